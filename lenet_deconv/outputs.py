"""The output policy every command follows (docs/safety.md).

* an output is either a new path or an existing *regular* file; a folder, a
  device node, a FIFO or a socket is never written onto;
* an output that is a symbolic link is refused (the rename that makes a write
  atomic would replace the link, not the file it points to; following it
  would write somewhere the user did not name); folders given as outputs are
  containers and may be links to folders;
* an output is never one of the same command's inputs (compared as files, so
  hard links and ``a/../b`` spellings count too);
* an existing file is only replaced when the user passed ``--force``;
* every write is atomic (numpy_lenet/atomic.py): a temporary file beside the
  target, renamed over it only when complete, removed on every exit path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from numpy_lenet.atomic import OutputError, check_not_special, check_output_folder

__all__ = ["OutputError", "check_output_file", "check_output_folder"]


def check_output_file(
    path: str | os.PathLike[str],
    *,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    force: bool = False,
    what: str = "--out",
) -> Path:
    """Refuse an output file the policy forbids; return it as a Path when it may be written."""
    path = Path(path)
    check_not_special(path, what)
    if not path.exists():
        return path
    for source in inputs:
        if source is not None and Path(source).exists() and os.path.samefile(path, source):
            raise OutputError(f"{what} {path} is also an input of this command ({source})")
    if not force:
        raise OutputError(f"{what} {path} already exists; pass --force to replace it")
    return path
