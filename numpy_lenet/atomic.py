"""Atomic writes: a file appears whole or not at all, and its temporaries are swept up.

docs/safety.md ("Atomic") says what is guaranteed. This module imports neither
torch nor anything of the tool: both backends use it. The command line's output
policy built on it is lenet_deconv/outputs.py.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: Temporary files are named ".lenet-deconv-tmp-<pid>-<random>.tmp": a name no user would choose,
#: short enough beside any legal target name, and saying which process owns it.
TEMP_PREFIX = ".lenet-deconv-tmp-"
TEMP_NAME = re.compile(r"^\.lenet-deconv-tmp-(\d+)-[a-z0-9]{8}\.tmp$")

#: Files the running command reads (set by protected_inputs): atomic_path never replaces one.
_PROTECTED: list[Path] = []


class OutputError(ValueError):
    """An output path the output policy refuses to write."""


_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFCHR: "a device node",
    stat.S_IFBLK: "a device node",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symbolic link",
}


def kind_in_words(mode: int) -> str:
    """A file type (an ``st_mode``) in words, for error messages."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


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
    if os.fspath(folder) == "":  # before Path(): Path("") is ".", the current folder
        raise OutputError(f"{what} is empty; name a folder")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():  # is_dir follows links: a link to a folder is fine
        mode = os.lstat(folder).st_mode
        kind = "a file" if stat.S_ISREG(mode) else kind_in_words(mode)
        raise OutputError(f"{what} {folder} exists and is not a folder (it is {kind})")
    return folder


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``target`` that replaces it only if the block succeeds."""
    target = Path(target)
    check_not_special(target)
    check_not_protected(target)
    created = make_folders(target.parent)
    sweep_temps(target.parent)  # a killed run's leftovers (a killed project's may be GBs)
    tmp: Path | None = None
    try:
        try:
            tmp = _create_temp(target.parent)
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
        check_not_protected(target)
        os.replace(tmp, target)
        created = []
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        remove_empty_folders(created)


def temp_name(pid: int) -> str:
    """A fresh temporary file name owned by process ``pid``."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    # The ".tmp" suffix matters: torch.save names its zip archive after the file's stem.
    return f"{TEMP_PREFIX}{pid}-{''.join(secrets.choice(alphabet) for _ in range(8))}.tmp"


def _create_temp(folder: Path) -> Path:
    """Create a new, empty, owner-only temporary file in ``folder`` (never an existing one)."""
    for _ in range(100):
        path = folder / temp_name(os.getpid())
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free temporary file name in {folder}")


def _is_temp_of(name: str, target: Path) -> bool:
    """Whether ``name`` is one of atomic_path's temporaries beside ``target``."""
    return Path(name).parent == target.parent and bool(TEMP_NAME.match(os.path.basename(name)))


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (on this machine)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # it exists, owned by someone else (or an absurd number: leave it)
    return True


def sweep_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove temporaries in ``folder`` whose owning process is gone; return them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in sorted(folder.iterdir()):
        match = TEMP_NAME.match(entry.name)
        if match and not _alive(int(match.group(1))) and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


@contextmanager
def protected_inputs(paths: Iterable[str | os.PathLike[str] | None]) -> Iterator[None]:
    """While the block runs, atomic_path refuses to replace any of ``paths`` (the inputs)."""
    added = [Path(p) for p in paths if p is not None and str(p) != ""]
    _PROTECTED.extend(added)
    try:
        yield
    finally:
        for path in added:
            _PROTECTED.remove(path)


def check_not_protected(target: str | os.PathLike[str], what: str = "output") -> None:
    """Raise OutputError if ``target`` is the same file as one of the protected inputs."""
    for source in _PROTECTED:
        if same_file(target, source):
            raise OutputError(f"{what} {target} is also an input of this command ({source})")


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same existing file (hard links and ``a/../b`` included)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # either is missing (or an unusable name): not the same file
        return False


def _current_umask() -> int:
    """The process umask (reading it means setting it, so put it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
