"""Latency and load of the explorer's server on loopback; prints p50/p95 and memory.

    python benchmarks/bench_serve.py [--weights weights/lenet5-mnist.npz] [--data-dir DIR]
        [--backend numpy] [--requests 100] [--clients 20] [--per-client 50] [--time-limit 300]

Starts ``lenet-deconv serve --port 0`` as its own process on 127.0.0.1 (nothing
else is contacted) and times, as a client would, one interaction: POST
/api/explore with a test image -> prediction, every layer's activations and the
max-mode projection of every channel of the chosen layer. Then the same with a
selected channel (adds its step-through). The round trip over loopback is the
figure that counts (it includes parsing, validation and the JSON answer); the
handler's own compute time (its Server-Timing header) is shown beside it.

Then the load test: ``--clients`` threads, each with its own keep-alive
connection, send ``--per-client`` requests each (layers in turn), bounded by
``--time-limit`` seconds overall; it counts errors and reads the server's RSS
before and after (and after a second round, to tell growth from warm-up).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from lenet_deconv.mnist import resolve_data_dir
from numpy_lenet.architecture import LAYER_NAMES
from torch_lenet.data import load_mnist

REPO = Path(__file__).resolve().parents[1]


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen, int]:
    """The explorer as a child process on a free loopback port; its process and port."""
    command = [sys.executable, "-m", "lenet_deconv", "serve", "--weights", str(args.weights),
               "--port", "0", "--backend", args.backend, "--quiet"]  # fmt: skip
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    if "serving the explorer at" not in line:
        server.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    port = int(line.split("127.0.0.1:")[1].split("/")[0])
    return server, port


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def body(image: np.ndarray, layer: str, channel: int | None = None) -> bytes:
    """The JSON of one /api/explore request, as the page sends it."""
    request: dict = {"image": image.tolist(), "layer": layer, "mode": "max"}
    if channel is not None:
        request["channel"] = channel
    return json.dumps(request).encode()


def post(connection: http.client.HTTPConnection, payload: bytes) -> tuple[float, float, int]:
    """One request: (round trip ms, server compute ms, status)."""
    start = time.perf_counter()
    connection.request("POST", "/api/explore", payload, {"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    elapsed = 1000 * (time.perf_counter() - start)
    timing = response.getheader("Server-Timing") or "dur=nan"
    return elapsed, float(timing.split("dur=")[1]), response.status


def percentiles(values: list[float]) -> str:
    """'p50 x ms, p95 y ms' of a list of milliseconds."""
    p50, p95 = np.percentile(values, [50, 95])
    return f"p50 {p50:6.1f} ms  p95 {p95:6.1f} ms"


def latency(port: int, images: np.ndarray, requests: int) -> None:
    """Sequential interactions per layer, one client: print round trip and compute times."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    print(f"one client, {requests} requests per row, test images in turn:")
    for selected in (False, True):
        for layer in LAYER_NAMES:
            payloads = [
                body(images[i % len(images)], layer, 0 if selected else None)
                for i in range(requests)
            ]
            post(connection, payloads[0])  # warm-up
            results = [post(connection, p) for p in payloads]
            assert all(status == 200 for _, _, status in results), "a request failed"
            what = f"{layer} + step-through" if selected else layer
            print(
                f"  {what:22s} round trip {percentiles([r[0] for r in results])}"
                f"   | handler {percentiles([r[1] for r in results])}"
            )
    connection.close()


def load(port: int, images: np.ndarray, clients: int, per_client: int, limit_s: float) -> dict:
    """``clients`` threads x ``per_client`` requests; latencies, errors, wall time."""
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + limit_s

    def client(k: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(per_client):
            if time.monotonic() > deadline:
                with lock:
                    errors.append(f"client {k}: time limit reached after {i} requests")
                return
            layer = LAYER_NAMES[(k + i) % len(LAYER_NAMES)]
            try:
                elapsed, _, status = post(
                    connection, body(images[(k * per_client + i) % len(images)], layer)
                )
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors.append(f"client {k}: {type(exc).__name__}: {exc}")
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            with lock:
                times.append(elapsed)
                if status != 200:
                    errors.append(f"client {k}: HTTP {status}")
        connection.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 35)
    return {"times": times, "errors": errors, "wall": time.perf_counter() - start}


def main() -> None:
    """Start the server, run both benchmarks, stop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=REPO / "weights" / "lenet5-mnist.npz",
                        help="weight file (default: the shipped weights)")  # fmt: skip
    parser.add_argument("--data-dir", help="MNIST root (default: as lenet-deconv serve)")
    parser.add_argument(
        "--backend", choices=("numpy", "torch"), default="numpy", help="default: numpy"
    )
    parser.add_argument("--requests", type=int, default=100, help="timed requests per layer")
    parser.add_argument("--clients", type=int, default=20, help="load test: concurrent clients")
    parser.add_argument("--per-client", type=int, default=50, help="load test: requests each")
    parser.add_argument("--time-limit", type=float, default=300, help="load test: seconds at most")
    args = parser.parse_args()

    images = load_mnist(resolve_data_dir(args.data_dir), "test")[0][:500].astype(np.float32) / 255
    print(f"{platform.node()}: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
          f"(other processes slow every figure), backend {args.backend}")  # fmt: skip
    server, port = start_server(args)
    try:
        latency(port, images, args.requests)
        load(port, images, args.clients, 5, args.time_limit)  # warm every thread's buffers
        before = rss_mib(server.pid)
        rounds = []
        for _ in range(2):
            rounds.append(load(port, images, args.clients, args.per_client, args.time_limit))
            rounds[-1]["rss"] = rss_mib(server.pid)
        for n, result in enumerate(rounds, 1):
            count = len(result["times"])
            print(
                f"load round {n}: {args.clients} clients x {args.per_client} requests: {count} "
                f"answered in {result['wall']:.1f} s, {len(result['errors'])} errors; "
                f"round trip {percentiles(result['times'])}"
            )
            for message in result["errors"][:5]:
                print(f"  error: {message}")
        print(
            f"server RSS: {before:.1f} MiB after warm-up, {rounds[0]['rss']:.1f} MiB after "
            f"round 1, {rounds[1]['rss']:.1f} MiB after round 2"
        )
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
