"""Safe writes: temp file in the same folder, then ``os.replace``; the file's mode is
kept, and a file that changed on disk since it was read is left alone."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path


class ChangedOnDiskError(Exception):
    """The file's bytes are not the ones the fix was computed from."""


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def write_atomic(path: str | Path, new: bytes, *, expected: bytes) -> None:
    """Replace ``path`` with ``new`` if it still holds ``expected``."""
    path = Path(path)
    with open(path, "rb") as handle:
        current = handle.read()
    if current != expected:
        raise ChangedOnDiskError(f"{path}: changed on disk since it was read; not written")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".asyncmend")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(new)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
