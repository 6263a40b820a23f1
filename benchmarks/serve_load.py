"""Load `lenet-deconv serve` with concurrent clients on loopback: latency, errors, memory.

    python benchmarks/serve_load.py --site DIR [--clients 50] [--requests 40] [--rounds 2]

Starts `lenet-deconv serve --site DIR` on a free loopback port, then for each
round runs --clients threads, each sending --requests keep-alive GETs for the
site's files in turn, and prints the round's request count, errors, p50/p95
latency and the server's resident memory. Only 127.0.0.1 is contacted, and the
number of requests is bounded. Build DIR first with `lenet-deconv site --out DIR`.
"""

from __future__ import annotations

import argparse
import http.client
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from lenet_deconv.explorer.site import site_file_names


def resident_mib(pid: int) -> int:
    """The process's resident set size in MiB (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) // 1024


def one_round(port: int, clients: int, requests: int) -> tuple[list[float], list[str]]:
    """Latencies (s) and errors of ``clients`` threads sending ``requests`` GETs each."""
    paths = ["/"] + [f"/{name}" for name in site_file_names() if name != "index.html"]
    latencies: list[float] = []
    errors: list[str] = []

    def client(i: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for k in range(requests):
            start = time.perf_counter()
            try:
                connection.request("GET", paths[(i + k) % len(paths)])
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    errors.append(str(response.status))
            except OSError as exc:
                errors.append(repr(exc))
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(latencies), errors


def main() -> int:
    """Serve --site, load it round by round, print one line per round."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, required=True, help="a folder `site` wrote")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=40, help="per client and round")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "lenet_deconv", "serve", "--site", str(args.site), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline()  # "serving the explorer at http://127.0.0.1:PORT/ ..."
        port = int(line.split("127.0.0.1:")[1].split("/")[0])
        for round_number in range(1, args.rounds + 1):
            latencies, errors = one_round(port, args.clients, args.requests)
            p50 = 1000 * latencies[len(latencies) // 2]
            p95 = 1000 * latencies[int(0.95 * len(latencies))]
            print(
                f"round {round_number}: {len(latencies)} requests, {len(errors)} errors, "
                f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, server RSS {resident_mib(server.pid)} MiB"
            )
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
