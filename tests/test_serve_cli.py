"""`lenet-deconv serve`: options, address checks, start, Ctrl-C, and what the server refuses."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from lenet_deconv.cli.main import COMMANDS, main
from lenet_deconv.cli.serve import DEFAULT_PORT, bind, url_of
from lenet_deconv.explorer.server import is_loopback
from lenet_deconv.explorer.site import site_file_names

from .conftest import REPO, SHIPPED_WEIGHTS


def test_serve_is_a_registered_command(capsys) -> None:
    assert "serve" in COMMANDS
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    for option in ("--weights", "--data-dir", "--host", "--port", "--site"):
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


def test_a_busy_explicit_port_is_an_error(tmp_path, capsys) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        code = main(["serve", "--site", str(_tiny_site(tmp_path)), "--port", str(port)])
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


def test_a_bad_host_is_one_line_and_no_warning(tmp_path, capsys) -> None:
    site = _tiny_site(tmp_path)
    code = main(["serve", "--site", str(site), "--host", "no-such-host.invalid"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "--host" in err


def test_a_folder_that_is_not_a_site_is_one_line(tmp_path, capsys) -> None:
    assert main(["serve", "--site", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a site" in err


def test_site_and_weights_together_are_one_line(tmp_path, capsys) -> None:
    code = main(["serve", "--site", str(tmp_path), "--weights", str(SHIPPED_WEIGHTS)])
    assert code == 2
    assert capsys.readouterr().err.count("\n") == 1


def _tiny_site(folder):
    """A folder with the site's file names (contents do not matter to the server)."""
    site = folder / "site"
    site.mkdir()
    for name in site_file_names():
        (site / name).write_bytes(
            b"<!doctype html><title>t</title>" if name.endswith("html") else b"x"
        )
    return site


def _start(command, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    line = process.stdout.readline()  # blocks until the URL is printed (or it exits)
    if not line.startswith("serving the explorer at http://127.0.0.1:"):
        process.kill()
        raise AssertionError(line + process.stderr.read())
    return process, line.split(" at ")[1].split()[0]


def _stop(process) -> tuple[str, str]:
    process.send_signal(signal.SIGINT)
    try:
        return process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_builds_the_site_answers_and_stops_on_ctrl_c(data_dir, tmp_path) -> None:
    command = [sys.executable, "-m", "lenet_deconv", "serve", "--data-dir", str(data_dir),
               "--port", "0", "--quiet"]  # fmt: skip
    process, url = _start(command, tmp_path)
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            assert b"window.lenet" in response.read()
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        with urllib.request.urlopen(url + "data.json", timeout=30) as response:
            assert json.load(response)["test_set_size"] == 10_000
    finally:
        out, err = _stop(process)
    assert process.returncode == 0, err
    assert out.strip().endswith("stopped")
    assert "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`serve --site` of a tiny site in a child process: its URL and port."""
    folder = tmp_path_factory.mktemp("served")
    site = _tiny_site(folder)
    command = [sys.executable, "-m", "lenet_deconv", "serve", "--site", str(site), "--port", "0"]
    process, url = _start(command, folder)
    yield url, int(url.rsplit(":", 1)[1].strip("/"))
    _stop(process)


def _raw(port: int, request: bytes) -> tuple[int, list[str]]:
    """Send raw bytes; the status code and the body's lines (read to its Content-Length)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
        length = int({k.strip().lower(): v for k, v in fields.items()}[b"content-length"])
        while len(body) < length and (chunk := sock.recv(65536)):
            body += chunk
    return int(head.split()[1]), body.decode().splitlines()


@pytest.mark.parametrize(
    ("request_bytes", "status", "says"),
    [
        (b"GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n", 403, "Host"),
        (b"GET / HTTP/1.1\r\nHost: evil.example:8765\r\n\r\n", 403, "Host"),
        (b"GET / HTTP/1.1\r\n\r\n", 403, "Host"),
        (b"GET /index.html?debug=1 HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, "query"),
        (b"GET /../pyproject.toml HTTP/1.1\r\nHost: localhost\r\n\r\n", 404, "no file"),
        (b"GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: localhost\r\n\r\n", 404, "no file"),
        (b"GET http://evil.example/ HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, "path"),
        (b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n", 501, "POST"),
        (b"GARBAGE\r\n\r\n", 400, "request"),
        (b"GET / HTTP/9.9\r\nHost: localhost\r\n\r\n", 505, "version"),
    ],
)
def test_refusals_are_one_json_line(served, request_bytes, status, says) -> None:
    _, port = served
    code, lines = _raw(port, request_bytes)
    assert code == status
    assert len(lines) == 1
    assert says.lower() in json.loads(lines[0])["error"].lower()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "LOCALHOST:1234", "[::1]:80"])
def test_loopback_host_names_are_served(served, host) -> None:
    _, port = served
    code, _ = _raw(port, f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    assert code == 200


def test_another_host_warns_once_listening_and_answers_any_host_name(tmp_path) -> None:
    site = _tiny_site(tmp_path)
    command = [sys.executable, "-m", "lenet_deconv", "serve", "--site", str(site),
               "--host", "0.0.0.0", "--port", "0"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("serving the explorer at http://0.0.0.0:"), line
        port = int(line.split(" at ")[1].split()[0].rsplit(":", 1)[1].strip("/"))
        code, _ = _raw(port, b"GET / HTTP/1.1\r\nHost: lab-pc.example\r\nConnection: close\r\n\r\n")
        assert code == 200
    finally:
        _, err = _stop(process)
    assert "warning: listening on 0.0.0.0 lets other machines reach the explorer" in err
