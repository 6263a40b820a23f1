"""`lenet-deconv serve`: the interactive explorer, a local web page (FastAPI + uvicorn)."""

from __future__ import annotations

import argparse
import errno
import ipaddress
import socket
import sys
from pathlib import Path

from ..backends import BACKENDS, DTYPES
from .options import add_data_dir

DEFAULT_HOST = "127.0.0.1"
#: Tried first so the address stays the same from run to run; busy: any free port.
DEFAULT_PORT = 8765

DESCRIPTION = """\
Serve the explorer on this machine: draw a digit (or pick an MNIST test image),
see the ten class probabilities and every layer's activations, click any channel
or unit to project it to pixels (map / max / unit mode, deconvnet / gradient /
guided rule), step through the projection block by block, and see the channel's
top-9 test images. Everything is computed by the chosen backend; the page loads
nothing from outside the app. Listens on 127.0.0.1 unless --host says otherwise.
Ctrl-C stops it.
"""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `serve` subcommand."""
    parser = subparsers.add_parser(
        "serve",
        help="the interactive explorer: draw a digit, click a unit, watch the deconvnet",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--weights", type=Path, required=True, help="weight file (.npz or .pt)")
    add_data_dir(parser, "; its test split feeds the test images and the top-9 search")
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default: {DEFAULT_HOST}, this machine only); any other "
        "address lets other machines reach the explorer, which has no login",
    )
    parser.add_argument(
        "--port",
        type=int,
        help=f"port to listen on; 0 picks a free one (default: {DEFAULT_PORT}, or a free one "
        "when that is busy)",
    )
    parser.add_argument("--backend", choices=BACKENDS, default="numpy", help="default: numpy")
    parser.add_argument(
        "--dtype", choices=tuple(DTYPES), default="float32", help="default: float32"
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="search the top-9 images afresh instead of reading or writing "
        "$XDG_CACHE_HOME/lenet-deconvnet/serve",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (localhost, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        try:
            sock.bind((address[0], wanted))
        except OSError as exc:
            if port is not None or exc.errno != errno.EADDRINUSE:
                raise ValueError(f"cannot listen on {host}:{wanted} ({exc.strerror})") from None
            sock.bind((address[0], 0))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    """The http URL a browser opens for a listening socket."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


#: Ctrl-C is how the explorer is stopped: a normal end, exit 0 (main.py).
CTRL_C_STOPS = True


def run(args: argparse.Namespace) -> int:
    """Load weights and the test set, build the explorer, serve it until Ctrl-C."""
    import uvicorn
    from tqdm import tqdm

    from torch_lenet.data import load_mnist
    from torch_lenet.weights import load_params

    from ..mnist import resolve_data_dir
    from ..serve.app import create_app
    from ..serve.explorer import build_explorer
    from ..serve.topcache import default_cache_dir

    params = load_params(args.weights)  # a bad file fails before anything listens
    sock = bind(args.host, args.port)
    if not is_loopback(args.host):  # after the checks: an error is one line, warning-free
        print(
            f"lenet-deconv serve: warning: listening on {args.host} lets other machines reach "
            "the explorer; it has no login and no encryption",
            file=sys.stderr,
        )
    try:
        images, labels = load_mnist(resolve_data_dir(args.data_dir), "test")
        explorer = build_explorer(
            params,
            args.backend,
            DTYPES[args.dtype],
            images,
            labels,
            cache_dir=None if args.no_cache else default_cache_dir(),
            progress=lambda batches, total: tqdm(
                batches, total=total, desc="top-9 search", disable=args.quiet, file=sys.stderr
            ),
        )
        if not args.quiet:
            print(f"top-9 table {explorer.topk_source}", file=sys.stderr)
        config = uvicorn.Config(
            create_app(explorer), log_level="warning", access_log=False, lifespan="off"
        )
        print(f"serving the explorer at {url_of(sock)} (Ctrl-C stops it)", flush=True)
        try:
            uvicorn.Server(config).run(sockets=[sock])
        except KeyboardInterrupt:
            # uvicorn has already shut down gracefully; it re-raises Ctrl-C for the exit code.
            pass
    finally:
        sock.close()
    print("stopped", flush=True)
    return 0
