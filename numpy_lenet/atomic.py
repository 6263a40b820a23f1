"""Atomic writes: a file appears whole or not at all, and its temporaries are swept up.

Every write goes to a temporary file beside the target, renamed over it only
when complete; the temporary file is removed on every exit path (exceptions,
Ctrl-C, SIGTERM via the command line's handler); folders created for the write
are removed again when it fails. A target that exists and is not a regular
file (folder, device node, FIFO, socket, symbolic link) is refused: the rename
would replace a link rather than the file it points to.

This module imports neither torch nor anything of the tool: both backends use it.
The command line's output policy built on it is lenet_deconv/outputs.py.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Names of atomic_path's temporary files: ".<target name>.<8 random chars>.tmp".
TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


class OutputError(ValueError):
    """An output path the output policy refuses to write."""


def kind_in_words(mode: int) -> str:
    """A file type (an ``st_mode``) in words, for error messages."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device node"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def check_not_special(path: str | os.PathLike[str], what: str = "output") -> None:
    """Raise OutputError if ``path`` exists and is not a regular file (links included)."""
    path = Path(path)
    if str(path) in ("", "."):
        raise OutputError(f"{what} {str(path)!r} names a folder, not a file")
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise OutputError(f"{what} {path} is {kind_in_words(mode)}; refusing to write onto it")


def make_folders(folder: str | os.PathLike[str]) -> list[Path]:
    """Create ``folder`` and missing parents; return the ones created, outermost first."""
    folder = Path(folder)
    missing: list[Path] = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    created: list[Path] = []
    try:
        for path in reversed(missing):
            path.mkdir()
            created.append(path)
    except BaseException:
        remove_empty_folders(created)
        raise
    return created


def remove_empty_folders(created: list[Path]) -> None:
    """Remove folders made by ``make_folders`` again, innermost first, if still empty."""
    for path in reversed(created):
        try:
            path.rmdir()
        except OSError:  # not empty (someone put a file there) or already gone: keep it
            break


def check_output_folder(folder: str | os.PathLike[str], *, what: str = "--out") -> Path:
    """Refuse an output folder that exists as something other than a folder."""
    folder = Path(folder)
    if str(folder) == "":
        raise OutputError(f"{what} is empty; name a folder")
    if folder.exists() and not folder.is_dir():  # is_dir follows links: a link to a folder is fine
        mode = os.lstat(folder).st_mode
        kind = "a file" if stat.S_ISREG(mode) else kind_in_words(mode)
        raise OutputError(f"{what} {folder} exists and is not a folder (it is {kind})")
    return folder


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``target`` that replaces it only if the block succeeds.

    An exception (KeyboardInterrupt and the CLI's SIGTERM exit included) leaves
    the target untouched and removes the temporary; a target that exists and
    is not a regular file (folder, device, FIFO, socket, symbolic link) is refused.
    """
    target = Path(target)
    check_not_special(target)
    created = make_folders(target.parent)
    tmp: Path | None = None
    try:
        try:
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            os.close(fd)
            tmp = Path(name)
            yield tmp
        except OSError as exc:
            # Name the file the user asked for, not our temporary (or nothing).
            ours = exc.filename is not None and _is_temp_of(str(exc.filename), target)
            if exc.filename is None or ours:
                raise type(exc)(exc.errno, exc.strerror or str(exc), str(target)) from exc
            raise
        # mkstemp makes the file owner-only; give the result the usual umask permissions.
        os.chmod(tmp, 0o666 & ~_current_umask())
        check_not_special(target)  # again: it may have appeared while we wrote
        os.replace(tmp, target)
        created = []
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        remove_empty_folders(created)


def _is_temp_of(name: str, target: Path) -> bool:
    """Whether ``name`` is one of atomic_path's temporaries for ``target``."""
    base = os.path.basename(name)
    return base.startswith(f".{target.name}.") and bool(TEMP_NAME.match(base))


def sweep_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove atomic_path temporaries left in ``folder`` by a killed process; return them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        if TEMP_NAME.match(entry.name) and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def _current_umask() -> int:
    """The process umask (reading it means setting it, so put it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
