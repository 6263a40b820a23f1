"""The explorer's site served from memory on this machine, hardened (docs/explorer.md)."""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

#: The browser loads nothing from another origin; blob: holds a dropped PNG.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}
CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
}


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host of a Host header, without its port: "127.0.0.1:8765" -> "127.0.0.1"."""
    header = header.strip().lower()
    if header.startswith("["):  # [::1]:8765
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class SiteHandler(BaseHTTPRequestHandler):
    """GET/HEAD of the site's files by exact name; one JSON line for everything refused."""

    server: SiteServer
    server_version = "lenet-deconv"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    # Answer even a request line without a version with a status line and headers
    # (http.server's HTTP/0.9 answers are a bare body).
    default_request_version = "HTTP/1.0"

    def do_GET(self) -> None:
        """A file of the site, or a one-line refusal."""
        self._answer(body=True)

    def do_HEAD(self) -> None:
        """GET's headers without the body."""
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        problem = self._refusal()
        if problem is not None:
            self.send_error(*problem)
            return
        name = unquote(urlsplit(self.path).path).lstrip("/") or "index.html"
        content = self.server.files.get(name)
        if content is None:
            self.send_error(HTTPStatus.NOT_FOUND, f"no file {name!r} in the site")
            return
        self.send_response(HTTPStatus.OK)
        suffix = name[name.rfind(".") :] if "." in name else ""
        self.send_header("Content-Type", CONTENT_TYPES.get(suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Cache-Control", "no-cache")
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(content)

    def _refusal(self) -> tuple[HTTPStatus, str] | None:
        """Why this request is refused, or None."""
        host = self.headers.get("Host")
        if host is None or not self.server.accepts(host_name(host)):
            return HTTPStatus.FORBIDDEN, f"Host {host!r} is not this server's name"
        parts = urlsplit(self.path)
        if not self.path.startswith("/"):
            return HTTPStatus.BAD_REQUEST, "the request target must be a path of the site"
        if parts.query or parts.fragment:
            return HTTPStatus.BAD_REQUEST, "the site takes no query parameters"
        return None

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Every error as one line of JSON (http.server's own malformed-request errors too)."""
        status = HTTPStatus(code)
        text = " ".join(str(message or status.phrase).split())
        body = (json.dumps({"error": text}) + "\n").encode()
        self.log_error("%d %s", code, text)
        self.send_response(code, status.phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        self.close_connection = True
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the explorer's terminal shows only its own lines."""


class SiteServer(ThreadingHTTPServer):
    """A threading HTTP server over an already bound socket, serving ``files`` from memory."""

    daemon_threads = True

    def __init__(
        self, sock: socket.socket, files: Mapping[str, bytes], hosts: Iterable[str] | None = ()
    ) -> None:
        """Serve ``files`` (name -> bytes) on the listening ``sock``."""
        super().__init__(sock.getsockname()[:2], SiteHandler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.files = dict(files)
        #: Host names accepted beside the loopback ones; None: any (a --host other
        #: than loopback, reached by names this machine cannot know).
        self.hosts = None if hosts is None else {h.lower().strip("[]") for h in hosts}

    def accepts(self, host: str) -> bool:
        """Whether a request's Host (without port) names this server."""
        return self.hosts is None or is_loopback(host) or host in self.hosts
