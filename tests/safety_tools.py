"""Helpers for the fault-injection tests: file-tree snapshots and one-line error checks."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path


def snapshot(root: Path) -> dict[str, tuple[str, int, str]]:
    """Every entry under ``root`` (links not followed): kind, size and content hash."""
    tree: dict[str, tuple[str, int, str]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            info = os.lstat(path)
            rel = str(path.relative_to(root))
            if stat.S_ISREG(info.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                tree[rel] = ("file", info.st_size, digest)
            elif stat.S_ISLNK(info.st_mode):
                tree[rel] = ("link", 0, os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                tree[rel] = ("dir", 0, "")
            else:
                tree[rel] = ("special", 0, oct(info.st_mode))
    return tree


def temp_files(root: Path) -> list[str]:
    """Leftover temporaries of atomic writes under ``root``."""
    return sorted(str(p.relative_to(root)) for p in root.rglob(".lenet-deconv-tmp-*"))


def one_line_error(err: str, command: str) -> str:
    """Assert stderr is exactly one ``lenet-deconv COMMAND: error: ...`` line; return it."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"lenet-deconv {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]
