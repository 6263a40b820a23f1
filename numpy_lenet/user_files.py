"""The one checked opener every read of a user's file goes through (docs/safety.md).

This module imports neither torch nor anything of the tool: every reader uses it.
"""

from __future__ import annotations

import lzma
import os
import stat
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

from .atomic import kind_in_words

#: What reading a damaged zip, npy or compressed member raises besides OSError and
#: ValueError: zlib (deflate), LZMA, a bad zip directory, a short file, an
#: unsupported compression method, an encrypted member (RuntimeError), and size
#: fields too large for an integer.
DAMAGED: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    RuntimeError,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    NotImplementedError,
    OverflowError,
    KeyError,
    OSError,
    ValueError,
)


class InputFileError(ValueError):
    """A user's input file that is not a regular file, or too large, or of the wrong kind."""


def open_checked(
    path: str | os.PathLike[str],
    what: str,
    *,
    max_bytes: int | None = None,
    magic: tuple[bytes, ...] = (),
    kind: str = "",
) -> BinaryIO:
    """Open a user's regular file for reading, after checking its type, size and first bytes.

    ``what`` names the file in messages ("weight file", "--input"); ``magic``
    lists the accepted first bytes, ``kind`` says in words what they mean.
    """
    path = Path(path)
    try:
        info = os.stat(path)  # follows a link: a link to a regular file is a regular file
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    _check_regular(path, info.st_mode, what)
    if max_bytes is not None and info.st_size > max_bytes:
        raise InputFileError(
            f"{what} {path}: {info.st_size} bytes, more than the {max_bytes} accepted"
        )
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        _check_regular(path, os.fstat(fd).st_mode, what)  # replaced since the stat?
        os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    if magic:
        start = handle.read(max(len(m) for m in magic))
        handle.seek(0)
        if not any(start.startswith(m) for m in magic):
            handle.close()
            raise InputFileError(f"{what} {path} is not {kind or 'a file of the expected kind'}")
    return handle


def _check_regular(path: Path, mode: int, what: str) -> None:
    """Refuse anything but a regular file."""
    if not stat.S_ISREG(mode):
        raise InputFileError(f"{what} {path} is {kind_in_words(mode)}, not a regular file")
