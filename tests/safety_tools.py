"""Helpers for the fault-injection tests: file-tree snapshots and one-line error checks."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np


def snapshot(root: Path, hashes: dict | None = None) -> dict[str, tuple[str, int, str]]:
    """Every entry under ``root`` (links not followed): kind, size and content hash.

    ``hashes``, if given, caches each regular file's hash by path, inode, size and
    times, so that snapshots of a large, mostly unchanged tree read only what changed.
    """
    tree: dict[str, tuple[str, int, str]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            info = os.lstat(path)
            rel = str(path.relative_to(root))
            if stat.S_ISREG(info.st_mode):
                key = (rel, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
                cache = {} if hashes is None else hashes
                if key not in cache:
                    cache[key] = hashlib.sha256(path.read_bytes()).hexdigest()
                tree[rel] = ("file", info.st_size, cache[key])
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


def damaged_npz(path: Path, params: Mapping[str, np.ndarray], method: int) -> None:
    """A weight file whose members' compressed data is garbage (0xff: an invalid block)."""
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for key, value in params.items():
            buffer = io.BytesIO()
            np.save(buffer, value)
            archive.writestr(f"{key}.npy", buffer.getvalue())
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
            data[start : start + info.compress_size] = b"\xff" * info.compress_size
    path.write_bytes(bytes(data))
