"""The content-hash cache: a second run over an unchanged tree stats the files, and
nothing else (no read, no parse, no worker processes, no libcst import).

A file whose (size, mtime_ns) is the one the cache recorded for its path is taken to
hold the content it had then (as ruff does); any other file is read and hashed, and the
content hash decides. A file modified within ``RACY_SECONDS`` of the run that saw it is
never remembered by its stat (a write in the same timestamp tick would go unseen).

One cache file per run key (tool version, config digest, rule selection, mode). It maps
each path to the content hash it was computed from, with the pass-2 result. Results of
rules that read the repo index are only valid for the index they saw, so the file also
records the index digest. The pass-1 facts (three quarters of the bytes, and never read
by a run the cache answers) are in a second file beside it, ``<name>.facts``, sealed to
the first: its signature covers a random seal recorded in the first file, so it is
taken only with the file it was written with.

Nothing read from the cache is ever executed, and nothing planted in a checked tree can
change a run's answers (the cache folder of a cloned repository is attacker-controlled):

- the format is data only: msgpack through ``msgspec``, decoded against the exact types
  below; anything else (a pickle, a truncated or corrupt file, an old layout) is a miss;
- every file carries an HMAC-SHA256 of its payload under a per-user key kept in the
  user's cache folder (mode 0600), so a data file this user's runs did not write is a
  miss even when it is well-formed;
- files and folders are opened with ``O_NOFOLLOW`` and must belong to the current user;
  a symlinked cache folder or file is never read or written through;
- writes go through a temp file and ``os.replace`` (concurrent runs never see a torn
  file; the last writer wins), and the folder gets its own ``.gitignore`` holding ``*``.

Where: ``$ASYNCMEND_CACHE_DIR`` if set; else ``.asyncmend_cache/`` in the project root
(the folder of the ``pyproject.toml`` the config came from); with no ``pyproject.toml``,
a folder per project under the user's cache folder (``$XDG_CACHE_HOME/asyncmend`` or
``~/.cache/asyncmend``), never the current folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from asyncmend.codemods.installed import version_of
from asyncmend.engine.results import FileResult

#: Bump when the cache layout or the meaning of a cached value changes.
CACHE_FORMAT = 9
#: First bytes of every cache file, then the 32-byte HMAC, then the msgpack payload.
MAGIC = b"asyncmend-cache\x03"
#: The same for the facts file; its HMAC covers the seal as well.
FACTS_MAGIC = b"asyncmend-facts\x01"
#: A cache file larger than this is not read (a planted huge file costs nothing).
MAX_CACHE_BYTES = 512 * 1024 * 1024
CACHE_FOLDER = ".asyncmend_cache"
GITIGNORE = b"# Automatically created by asyncmend.\n*\n"
#: Files modified this recently are hashed on every run, never known by their stat.
RACY_SECONDS = 2.0


#: The last bytes hashed and their digest: pass 2 asks for a file's hash twice (its
#: gate record's check, its result's digest), on the one ``bytes`` object it read.
_last_hashed: tuple[bytes, str] = (b"", hashlib.blake2b(b"", digest_size=16).hexdigest())


def content_hash(data: bytes) -> str:
    global _last_hashed
    last, digest = _last_hashed
    if data is last:  # the same object (held here, so its id is not reused): same bytes
        return digest
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    _last_hashed = (data, digest)
    return digest


def tool_version() -> str:
    found = version_of("asyncmend")
    if found is not None:
        return found
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("asyncmend")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def user_cache_home() -> Path:
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "asyncmend"


def cache_dir(root: Path, *, in_project: bool = True) -> Path:
    """The cache folder of a run rooted at ``root``. ``in_project``: ``root`` holds the
    project's ``pyproject.toml`` (else it is only the current folder)."""
    configured = os.environ.get("ASYNCMEND_CACHE_DIR")
    if configured:
        return Path(configured)
    if in_project:
        return root / CACHE_FOLDER
    key = hashlib.sha256(os.fsencode(os.path.abspath(root))).hexdigest()[:24]
    return user_cache_home() / "projects" / key


# -- the schema: exactly what a cache file may hold ---------------------------------------


class _FactsEntry(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    digest: str
    facts: Any  # FileFacts, decoded below against its own type


class _ResultEntry(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    digest: str
    index_digest: str
    result: FileResult | None


class _StatEntry(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    size: int
    mtime_ns: int
    digest: str


class _Payload(msgspec.Struct, forbid_unknown_fields=True):
    #: The seal of the facts file written with this one (empty: none).
    facts_seal: bytes
    results: dict[str, _ResultEntry]
    meta: dict[str, bool | int | str]
    stats: dict[str, _StatEntry]


def _facts_type() -> type:
    from asyncmend.engine.index import FileFacts

    return FileFacts


# -- files that belong to this user, never through a symlink ------------------------------


def _open_own(path: Path, flags: int, mode: int = 0o600) -> int | None:
    """An fd for ``path`` (a regular file of this user, not a symlink), or None."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError:
        return None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        os.close(fd)
        return None
    return fd


def _own_folder(folder: Path, *, create: bool) -> bool:
    """Whether ``folder`` is a real folder (not a symlink) of this user; created (0700
    for the user's own cache folders) when asked."""
    if create:
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid()


def _user_key() -> bytes | None:
    """This user's secret for signing cache files (created on first use), or None when
    the user's cache folder is unusable (then nothing is cached)."""
    home = user_cache_home()
    if not _own_folder(home, create=True):
        return None
    path = home / "cache-key"
    fd = _open_own(path, os.O_RDONLY)
    if fd is None:
        fd = _open_own(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        if fd is None:
            return None
        with os.fdopen(fd, "wb") as handle:
            handle.write(os.urandom(32))
        fd = _open_own(path, os.O_RDONLY)
        if fd is None:
            return None
    with os.fdopen(fd, "rb") as handle:
        key = handle.read(64)
    return key if len(key) == 32 else None


def _sign(
    key: bytes, payload: bytes | memoryview, magic: bytes = MAGIC, seal: bytes = b""
) -> bytes:
    signer = hmac.new(key, magic + seal, hashlib.sha256)
    signer.update(payload)  # not magic + payload: no copy of the payload
    return signer.digest()


def _signed_payload(
    key: bytes, blob: bytearray | None, magic: bytes, seal: bytes = b""
) -> memoryview | None:
    """The payload of a file read whole, if it starts with ``magic`` and its HMAC
    (over ``magic``, ``seal`` and the payload) is ours; else None."""
    if blob is None or not blob.startswith(magic):
        return None
    # Views, not slices: the file is read once and never copied (it is megabytes).
    view = memoryview(blob)
    mac, payload = view[len(magic) : len(magic) + 32], view[len(magic) + 32 :]
    return payload if hmac.compare_digest(mac, _sign(key, payload, magic, seal)) else None


def _read_all(fd: int) -> bytearray | None:
    """The whole file behind ``fd`` (closed here), read into one buffer of its size;
    None when it is larger than ``MAX_CACHE_BYTES`` or its size changes while read."""
    with os.fdopen(fd, "rb", buffering=0) as handle:
        size = os.fstat(fd).st_size
        if size > MAX_CACHE_BYTES:
            return None
        blob = bytearray(size)
        with memoryview(blob) as view:
            got = 0
            while got < size:
                count = handle.readinto(view[got:])
                if not count:
                    return None  # shorter than it was
                got += count
        return blob if not handle.read(1) else None  # longer than it was


@dataclass
class ResultCache:
    path: Path
    #: path -> (content hash, facts): facts as decoded (plain data) until first asked
    #: for, so a run answered from the cache never imports the facts' types.
    facts: dict[str, tuple[str, Any]] = field(default_factory=dict)
    #: path -> (size, mtime_ns, content hash) of the file when it was last hashed.
    stats: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    #: path -> (content hash, index digest, FileResult or None when the file had
    #: nothing to say). Results of index-reading rules hold only for the index they saw.
    results: dict[str, tuple[str, str, FileResult | None]] = field(default_factory=dict)
    #: Facts about the run key itself (e.g. whether the rules read the repo index).
    meta: dict[str, Any] = field(default_factory=dict)
    dirty: bool = False
    #: The signing key; None disables reading and writing.
    key: bytes | None = field(default=None, repr=False)
    #: Facts were added since the facts file was read: it is written anew on save.
    _facts_changed: bool = field(default=False, repr=False)
    #: The seal of the facts file that goes with the file read (None: nothing read).
    _facts_seal: bytes | None = field(default=None, repr=False)
    #: Facts entries read from the facts file and not yet asked for (not converted);
    #: None until facts are first asked for.
    _facts_read: dict[str, tuple[str, Any]] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, root: Path, *key_parts: object, in_project: bool = True) -> ResultCache:
        name = hashlib.sha256(repr((CACHE_FORMAT, tool_version(), *key_parts)).encode())
        path = cache_dir(root, in_project=in_project) / f"{name.hexdigest()[:24]}.msgpack"
        cache = cls(path, key=_user_key())
        if cache.key is not None and _own_folder(path.parent, create=False):
            cache._load()
        return cache

    def _load(self) -> None:
        """Read the file if it is ours, signed and well-formed; anything else is a miss."""
        assert self.key is not None
        fd = _open_own(self.path, os.O_RDONLY)
        payload = _signed_payload(self.key, _read_all(fd), MAGIC) if fd is not None else None
        if payload is None:
            return
        try:
            data = msgspec.msgpack.decode(payload, type=_Payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return
        self._facts_seal = data.facts_seal
        self.stats = {p: (e.size, e.mtime_ns, e.digest) for p, e in data.stats.items()}
        self.results = {
            path: (entry.digest, entry.index_digest, entry.result)
            for path, entry in data.results.items()
        }
        self.meta = dict(data.meta)

    @property
    def facts_path(self) -> Path:
        return self.path.with_name(self.path.stem + ".facts")

    @property
    def _raw_facts(self) -> dict[str, tuple[str, Any]]:
        """The facts entries of the facts file, read on first use; a file that is not
        ours, not signed, not sealed to the file read, or malformed is a miss for every
        file."""
        if self._facts_read is None:
            self._facts_read = {}
            if self.key is not None and self._facts_seal:
                fd = _open_own(self.facts_path, os.O_RDONLY)
                blob = _read_all(fd) if fd is not None else None
                payload = _signed_payload(self.key, blob, FACTS_MAGIC, self._facts_seal)
                try:
                    entries = (
                        msgspec.msgpack.decode(payload, type=dict[str, _FactsEntry])
                        if payload is not None
                        else {}
                    )
                except (msgspec.DecodeError, msgspec.ValidationError):
                    entries = {}
                self._facts_read = {path: (e.digest, e.facts) for path, e in entries.items()}
        return self._facts_read

    def get_facts(self, path: str, digest: str) -> Any | None:
        entry = self.facts.get(path)
        if entry is None and path in self._raw_facts:
            raw_digest, raw = self._raw_facts.pop(path)
            try:
                entry = (raw_digest, msgspec.convert(raw, _facts_type()))
            except msgspec.ValidationError:
                return None  # this entry only: a miss
            self.facts[path] = entry
        return entry[1] if entry is not None and entry[0] == digest else None

    def known_digest(self, path: str, info: os.stat_result) -> str | None:
        """The content hash of ``path`` when its size and mtime are the recorded ones."""
        entry = self.stats.get(path)
        if entry is None or entry[0] != info.st_size or entry[1] != info.st_mtime_ns:
            return None
        return entry[2]

    def remember_digest(self, path: str, info: os.stat_result, digest: str) -> None:
        """Record what ``path`` hashed to at this size and mtime (not for a file modified
        so recently that another write in the same tick could follow unseen)."""
        if not _storable(path) or info.st_mtime_ns > time.time_ns() - RACY_SECONDS * 1e9:
            return
        if self.stats.get(path) != (info.st_size, info.st_mtime_ns, digest):
            self.stats[path] = (info.st_size, info.st_mtime_ns, digest)
            self.dirty = True

    def put_facts(self, path: str, digest: str, facts: Any) -> None:
        if not _storable(path):
            return
        # Only facts that come back from the cache exactly as they were are kept (a
        # collector returning tuples or sets would read back as lists: recompute those).
        try:
            stored = msgspec.convert(
                msgspec.msgpack.decode(msgspec.msgpack.encode(facts)), _facts_type()
            )
        except (TypeError, msgspec.DecodeError, msgspec.ValidationError):
            return
        if stored != facts:
            return
        self.facts[path] = (digest, facts)
        self.dirty = self._facts_changed = True

    def get_result(
        self, path: str, digest: str, index_digest: str
    ) -> tuple[bool, FileResult | None]:
        """``(hit, result)``; ``result`` is None for a hit on a file with nothing to say."""
        entry = self.results.get(path)
        if entry is None or entry[0] != digest or entry[1] != index_digest:
            return False, None
        return True, entry[2]

    def put_result(self, path: str, digest: str, index_digest: str, result: FileResult) -> None:
        if not _storable(path):
            return
        if result.error:  # errors are not cached: the next run tries again
            self.results.pop(path, None)
        else:
            keep = result.findings or result.remaining or result.changed
            self.results[path] = (digest, index_digest, result if keep else None)
        self.dirty = True

    def save(self) -> None:
        if not self.dirty or self.key is None:
            return
        folder = self.path.parent
        if not _own_folder(folder, create=True):
            return  # a planted symlink or someone else's folder: do not write through it
        _ensure_gitignore(folder)
        seal = self._facts_seal or b""
        if self._facts_changed or not seal:  # new facts (or none on disk): a new file
            facts = {**self._raw_facts, **self.facts}
            seal = os.urandom(16)
            payload = msgspec.msgpack.encode({p: (d, f) for p, (d, f) in facts.items()})
            if not self._write(self.facts_path, FACTS_MAGIC, payload, seal):
                return
            # The results file written next records the new seal (a run that dies
            # first leaves the old results file with facts sealed to another: a miss).
            self._facts_seal, self._facts_changed = seal, False
        payload = msgspec.msgpack.encode(
            {
                "facts_seal": seal,
                "results": {p: (d, i, r) for p, (d, i, r) in self.results.items()},
                "meta": self.meta,
                "stats": self.stats,
            }
        )
        self._write(self.path, MAGIC, payload)

    def _write(self, path: Path, magic: bytes, payload: bytes, seal: bytes = b"") -> bool:
        """Write a signed file through a temp file and ``os.replace`` (concurrent runs
        never see a torn file); False when it could not be written."""
        import tempfile  # a run the cache answers writes nothing

        assert self.key is not None
        try:
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        except OSError:
            return False  # a read-only checkout still gets its results, just not cached
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(magic + _sign(self.key, payload, magic, seal) + payload)
            os.replace(temp, path)  # replaces a symlink itself, never its target
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            return False
        return True


def _storable(path: str) -> bool:
    """Paths with bytes that are not UTF-8 (``surrogateescape``) are not cached."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _ensure_gitignore(folder: Path) -> None:
    """``folder/.gitignore`` holding ``*`` (as ruff's cache folder has); never written
    through a symlink, never overwriting anything."""
    try:
        fd = os.open(
            folder / ".gitignore", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644
        )
    except OSError:
        return  # already there (or a symlink, or read-only): leave it
    with os.fdopen(fd, "wb") as handle:
        handle.write(GITIGNORE)
