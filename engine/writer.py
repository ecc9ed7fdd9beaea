"""Safe writes.

A write replaces the file atomically (temp file in the same folder, ``fsync``,
``os.replace``) and keeps what the file is:

- owner, group and mode are copied to the new file (a file whose owner cannot be kept is
  skipped with a message rather than handed to another user);
- a symlink is written through to its target, as ruff does; the link stays a link;
- a read-only file (no write bit at all) is skipped with a message, even for root;
- a file with several hard links is skipped with a message: replacing it would split
  the links, and writing in place is not atomic;
- the content check ("still the bytes the fix was computed from") and the replace
  happen under an exclusive ``flock`` of the file, so two concurrent runs never both
  write a file (no lost update, no double write). ``project_lock`` serialises whole
  write phases per project root on top of that.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from asyncmend.engine.results import printable

#: Suffix of the temp files a write creates next to its file (gone once it returns).
TEMP_SUFFIX = ".asyncmend-tmp"


class WriteSkipped(Exception):
    """The file was left alone on purpose; the message says why."""


class ChangedOnDiskError(WriteSkipped):
    """The file's bytes are not the ones the fix was computed from."""


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@contextlib.contextmanager
def project_lock(root: str | Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive advisory lock on the project root folder (no lock file is
    created). ``on_wait`` is called once if another run holds it; then this one waits."""
    try:
        fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
    except OSError:
        yield  # no such folder (or not readable): the per-file locks still hold
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_target(path: str | Path) -> Path:
    """The file a write to ``path`` changes: the final target of a symlink."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def write_atomic(path: str | Path, new: bytes, *, expected: bytes) -> None:
    """Replace ``path`` (its target, for a symlink) with ``new`` if it still holds
    ``expected``. Raises ``WriteSkipped`` (``ChangedOnDiskError``) when the file is left
    alone on purpose, ``OSError`` when writing failed (the file is then unchanged)."""
    target = write_target(path)
    for _attempt in range(5):
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            info = os.fstat(fd)
            _check_identity(path, info)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                now = os.stat(target, follow_symlinks=False)
            except FileNotFoundError:
                now = None
            if now is None or (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
                continue  # replaced while we waited for the lock: lock the new file
            with open(target, "rb") as handle:
                current = handle.read(len(expected) + 1)
            if current != expected:
                raise ChangedOnDiskError(
                    f"{printable(str(path))}: changed on disk since it was read; not written"
                )
            _replace(target, new, info)
            return
        finally:
            os.close(fd)
    raise ChangedOnDiskError(
        f"{printable(str(path))}: changed on disk since it was read; not written"
    )


def _check_identity(path: str | Path, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise WriteSkipped(f"{printable(str(path))}: not a regular file; not written")
    if info.st_nlink > 1:
        raise WriteSkipped(
            f"{printable(str(path))}: has {info.st_nlink} hard links; not written "
            "(replacing it would break the links)"
        )
    if not info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise WriteSkipped(f"{printable(str(path))}: read-only file; not written")
    if os.geteuid() != 0 and not os.access(path, os.W_OK):
        raise WriteSkipped(f"{printable(str(path))}: not writable by this user; not written")


#: Whether unnamed temp files can be given a name here (some sandboxes refuse linkat
#: through /proc); learnt on the first write.
_UNNAMED_OK = [bool(getattr(os, "O_TMPFILE", 0)) and os.path.isdir("/proc/self/fd")]


def _replace(target: Path, new: bytes, info: os.stat_result) -> None:
    if _UNNAMED_OK[0]:
        try:
            fd = os.open(target.parent, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
        else:
            # Unnamed until complete: a kill before the link leaves nothing behind.
            with os.fdopen(fd, "wb") as handle:
                _fill(handle, new, info, target)
                temp = _temp_name(target)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)  # left by a killed run (we hold the file's lock)
                try:
                    os.link(f"/proc/self/fd/{handle.fileno()}", temp)
                except OSError:
                    _UNNAMED_OK[0] = False
                    temp = None
            if temp is not None:
                _rename(temp, target)
                return
    # Only the holder of the file's lock writes this name, so one left there was left by
    # a run that was killed mid-write: remove it.
    temp = _temp_name(target)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            _fill(handle, new, info, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _rename(temp, target)


def _fill(handle: BinaryIO, new: bytes, info: os.stat_result, target: Path) -> None:
    """Owner, group and mode of the old file, then the new bytes, on disk."""
    if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.fchown(handle.fileno(), info.st_uid, info.st_gid)
        except PermissionError:
            raise WriteSkipped(
                f"{printable(str(target))}: owned by another user (uid {info.st_uid}) whose ownership "
                "this user cannot keep; not written"
            ) from None
    os.fchmod(handle.fileno(), stat.S_IMODE(info.st_mode))
    handle.write(new)
    handle.flush()
    os.fsync(handle.fileno())


def _rename(temp: str, target: Path) -> None:
    try:
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _temp_name(target: Path) -> str:
    """The temp file's name next to ``target``: one per file (only the holder of the
    file's lock uses it), short enough for any name the folder accepts."""
    name = target.name
    if len(os.fsencode(name)) > 200:
        name = hashlib.blake2b(os.fsencode(name), digest_size=8).hexdigest()
    return str(target.parent / f".{name}{TEMP_SUFFIX}")
