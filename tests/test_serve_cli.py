"""`lenet-deconv serve` on the command line: options, address checks, start, Ctrl-C, top-9 cache."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import numpy as np
import pytest

from lenet_deconv.cli.main import COMMANDS, main
from lenet_deconv.cli.serve import DEFAULT_PORT, bind, is_loopback, url_of
from lenet_deconv.serve.topcache import cache_key, cached_topk, load_topk
from lenet_deconv.top_activations import TOP_K, TopK
from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES

from .conftest import REPO, SHIPPED_WEIGHTS
from .lenet_factories import random_params


def test_serve_is_a_registered_command(capsys) -> None:
    assert "serve" in COMMANDS
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    for option in ("--weights", "--data-dir", "--host", "--port", "--backend", "--no-cache"):
        assert option in text


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("example.org", False),
    ],
)
def test_only_loopback_hosts_count_as_local(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_busy_default_port_falls_back_to_a_free_one() -> None:
    blocker = socket.socket()
    try:
        blocker.bind(("127.0.0.1", DEFAULT_PORT))
    except OSError:
        pytest.skip(f"port {DEFAULT_PORT} is already taken on this machine")
    blocker.listen(1)
    try:
        sock = bind("127.0.0.1", None)
        assert sock.getsockname()[1] not in (DEFAULT_PORT, 0)
        sock.close()
    finally:
        blocker.close()


def test_a_busy_explicit_port_is_an_error(capsys) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        code = main(["serve", "--weights", str(SHIPPED_WEIGHTS), "--port", str(port)])
    finally:
        blocker.close()
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_port_zero_binds_a_free_port_and_prints_its_url() -> None:
    sock = bind("127.0.0.1", 0)
    try:
        assert url_of(sock) == f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        sock.close()


def test_another_host_warns_only_once_it_listens(tmp_path, capsys) -> None:
    code = main(["serve", "--weights", str(tmp_path / "missing.npz"), "--host", "0.0.0.0"])
    err = capsys.readouterr().err
    assert code == 2  # the missing weights stop it before it listens: one line, no warning
    assert err.strip().splitlines() == [err.strip()] and "missing.npz" in err


def test_loopback_does_not_warn(tmp_path, capsys) -> None:
    main(["serve", "--weights", str(tmp_path / "missing.npz")])
    assert "warning" not in capsys.readouterr().err


def test_serve_starts_answers_and_stops_on_ctrl_c(data_dir, tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "lenet_deconv", "serve", "--weights", str(SHIPPED_WEIGHTS),
               "--data-dir", str(data_dir), "--port", "0", "--quiet"]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline()  # blocks until the URL is printed (or it exits)
        assert line.startswith("serving the explorer at http://127.0.0.1:"), (
            line + process.stderr.read()
        )
        url = line.split(" at ")[1].split()[0]
        with urllib.request.urlopen(url + "api/info", timeout=30) as response:
            assert json.load(response)["test_images"] == 10_000
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert out.strip().endswith("stopped")
    assert "Traceback" not in err
    cached = list((tmp_path / "cache" / "lenet-deconvnet" / "serve").glob("*.npz"))
    assert len(cached) == 1  # the top-9 table went to the per-user cache, not the repo
    assert not list(tmp_path.glob("*.npz"))


# ---- the top-9 cache ----


def _table(seed: int) -> dict[str, TopK]:
    rng = np.random.default_rng(seed)
    return {
        layer: TopK(
            rng.random((TOP_K, LAYER_SHAPES[layer][0])),
            rng.integers(0, 100, (TOP_K, LAYER_SHAPES[layer][0])),
            rng.integers(0, 25, (TOP_K, LAYER_SHAPES[layer][0])),
        )
        for layer in LAYER_NAMES
    }


def test_the_cache_is_computed_once_then_read(tmp_path) -> None:
    calls = []

    def compute():
        calls.append(1)
        return _table(0)

    first, how = cached_topk(tmp_path, "abc", compute)
    second, how_again = cached_topk(tmp_path, "abc", compute)
    assert len(calls) == 1 and how.startswith("computed") and how_again.startswith("read")
    for layer in LAYER_NAMES:
        np.testing.assert_array_equal(first[layer].values, second[layer].values)
        np.testing.assert_array_equal(first[layer].images, second[layer].images)
        np.testing.assert_array_equal(first[layer].positions, second[layer].positions)


def test_a_damaged_cache_file_is_recomputed(tmp_path) -> None:
    (tmp_path / f"top{TOP_K}-abc.npz").write_bytes(b"not a zip file")
    assert load_topk(tmp_path / f"top{TOP_K}-abc.npz") is None
    _, how = cached_topk(tmp_path, "abc", lambda: _table(1))
    assert how.startswith("computed")
    assert load_topk(tmp_path / f"top{TOP_K}-abc.npz") is not None


def test_the_cache_key_changes_with_weights_images_backend_and_dtype() -> None:
    params, images = random_params(0), np.zeros((5, 28, 28), np.uint8)
    base = cache_key(params, images, "numpy", np.float32)
    assert cache_key(params, images, "numpy", np.float32) == base
    nudged = {**params, "fc3.bias": params["fc3.bias"] + 1e-9}
    changed = images.copy()
    changed[4, 3, 3] = 1
    assert cache_key(nudged, images, "numpy", np.float32) != base
    assert cache_key(params, changed, "numpy", np.float32) != base
    assert cache_key(params, images[:4], "numpy", np.float32) != base
    assert cache_key(params, images, "torch", np.float32) != base
    assert cache_key(params, images, "numpy", np.float64) != base


def test_an_unwritable_cache_still_serves(tmp_path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder should be")
    table, how = cached_topk(blocked / "sub", "abc", lambda: _table(2))
    assert "not cached" in how and set(table) == set(LAYER_NAMES)
