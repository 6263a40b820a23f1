"""`lenet-deconv serve`: the explorer's static site, served on this machine (http.server)."""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
from pathlib import Path

from ..explorer.site import site_file_names
from ..shipped import shipped_weights
from .options import add_quiet, check_at_least
from .site import add_site_inputs, build_files

DEFAULT_HOST = "127.0.0.1"
#: Tried first so the address stays the same from run to run; busy: any free port.
DEFAULT_PORT = 8765

SUMMARY = "the interactive explorer on this machine: draw a digit, click a unit"
DESCRIPTION = """\
Serve the explorer (docs/explorer.md) on this machine: the files `lenet-deconv
site` writes, built in memory (or read from a folder it wrote, with --site).
Listens on 127.0.0.1 and answers only requests addressed to this machine's
loopback names, unless --host says otherwise. Ctrl-C stops it.
"""


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options of `serve`."""
    add_site_inputs(parser)
    parser.add_argument(
        "--site",
        type=Path,
        metavar="DIR",
        help="serve a folder written by `lenet-deconv site` instead of building the site now "
        "(then --weights and --data-dir do not apply)",
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default: {DEFAULT_HOST}, this machine only); any other "
        "address lets other machines reach the explorer, which has no login, and answers "
        "whatever host name they use",
    )
    parser.add_argument(
        "--port",
        type=int,
        help=f"port to listen on; 0 picks a free one (default: {DEFAULT_PORT}, or a free one "
        "when that is busy)",
    )
    add_quiet(parser, "no progress bar")


def bind(host: str, port: int | None) -> socket.socket:
    """A listening socket on ``host``: ``port``, or DEFAULT_PORT falling back to a free one."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ValueError(f"--host {host!r} is not an address of this machine ({exc})") from None
    family, _, _, _, address = infos[0]
    wanted = DEFAULT_PORT if port is None else port
    if not 0 <= wanted <= 65535:
        raise ValueError(f"--port must lie in 0..65535, got {wanted}")
    # create_server sets SO_REUSEADDR, and closes the socket when it cannot listen.
    try:
        return socket.create_server((address[0], wanted), family=family)
    except OSError as exc:
        if port is not None or exc.errno != errno.EADDRINUSE:
            why = os.strerror(exc.errno)  # create_server's message repeats the address
            raise ValueError(f"cannot listen on {host}:{wanted} ({why})") from None
    return socket.create_server((address[0], 0), family=family)


def url_of(sock: socket.socket) -> str:
    """The http URL a browser opens for a listening socket."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


#: Ctrl-C is how the explorer is stopped: a normal end, exit 0 (main.py).
CTRL_C_STOPS = True


def read_site(folder: Path) -> dict[str, bytes]:
    """The files of a site folder written by `lenet-deconv site` (its own names only)."""
    missing = [name for name in site_file_names() if not (folder / name).is_file()]
    if missing:
        raise ValueError(
            f"--site {folder} is not a site written by `lenet-deconv site` (no {missing[0]})"
        )
    return {name: (folder / name).read_bytes() for name in site_file_names()}


def run(args: argparse.Namespace) -> int:
    """Build (or read) the site, then serve it until Ctrl-C."""
    from ..explorer.server import SiteServer, is_loopback

    host = args.host
    check_at_least(args, 0, "sample")
    given_weights = args.weights != shipped_weights()
    if args.site is not None and (given_weights or args.data_dir is not None):
        raise ValueError("--site serves a built site: drop --weights and --data-dir")
    exposed = not is_loopback(host)
    # One line, before any work: nothing else is printed on stderr before an error.
    files = read_site(args.site) if args.site is not None else build_files(args)
    sock = bind(host, args.port)
    # Another --host: other machines reach it by names we cannot know, so any Host goes.
    server = SiteServer(sock, files, hosts=None if exposed else ())
    try:
        if exposed:
            print(
                f"lenet-deconv serve: warning: listening on {host} lets other machines reach "
                "the explorer; it has no login and no encryption",
                file=sys.stderr,
            )
        print(f"serving the explorer at {url_of(sock)} (Ctrl-C stops it)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    finally:
        server.server_close()
    print("stopped", flush=True)
    return 0
