"""The content-hash cache: a second run over an unchanged tree reads and hashes the
files, and nothing else (no parse, no worker processes, no libcst import).

One cache file per run key (tool version, config digest, rule selection, mode), under
``.asyncmend_cache/`` in the project root, or ``$ASYNCMEND_CACHE_DIR``. It maps each
path to the content hash it was computed from, with the pass-1 facts and the pass-2
result. Results of rules that read the repo index are only valid for the index they
saw, so the file also records the index digest. Writes go through a temp file and
``os.replace``: concurrent runs never see a torn file (the last writer wins).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncmend.engine.results import FileResult

#: Bump when the cache layout or the meaning of a cached value changes.
CACHE_FORMAT = 1


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def tool_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("asyncmend")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def cache_dir(root: Path) -> Path:
    configured = os.environ.get("ASYNCMEND_CACHE_DIR")
    return Path(configured) if configured else root / ".asyncmend_cache"


@dataclass
class ResultCache:
    path: Path
    #: path -> (content hash, facts or None)
    facts: dict[str, tuple[str, Any]] = field(default_factory=dict)
    #: path -> (content hash, index digest, FileResult or None when the file had
    #: nothing to say). Results of index-reading rules hold only for the index they saw.
    results: dict[str, tuple[str, str, FileResult | None]] = field(default_factory=dict)
    #: Facts about the run key itself (e.g. whether the rules read the repo index).
    meta: dict[str, Any] = field(default_factory=dict)
    dirty: bool = False

    @classmethod
    def open(cls, root: Path, *key_parts: object) -> ResultCache:
        key = hashlib.sha256(repr((CACHE_FORMAT, tool_version(), *key_parts)).encode()).hexdigest()[
            :24
        ]
        path = cache_dir(root) / f"{key}.pickle"
        cache = cls(path)
        try:
            with open(path, "rb") as handle:
                data = pickle.load(handle)
            cache.facts = data["facts"]
            cache.results = data["results"]
            cache.meta = data["meta"]
        except (
            OSError,
            EOFError,
            pickle.UnpicklingError,
            KeyError,
            TypeError,
            AttributeError,
            ImportError,
        ):
            pass  # no cache yet, or one from another version: start afresh
        return cache

    def get_facts(self, path: str, digest: str) -> Any | None:
        entry = self.facts.get(path)
        return entry[1] if entry is not None and entry[0] == digest else None

    def put_facts(self, path: str, digest: str, facts: Any) -> None:
        self.facts[path] = (digest, facts)
        self.dirty = True

    def get_result(
        self, path: str, digest: str, index_digest: str
    ) -> tuple[bool, FileResult | None]:
        """``(hit, result)``; ``result`` is None for a hit on a file with nothing to say."""
        entry = self.results.get(path)
        if entry is None or entry[0] != digest or entry[1] != index_digest:
            return False, None
        return True, entry[2]

    def put_result(self, path: str, digest: str, index_digest: str, result: FileResult) -> None:
        if result.error:  # errors are not cached: the next run tries again
            self.results.pop(path, None)
        else:
            keep = result.findings or result.remaining or result.changed
            self.results[path] = (digest, index_digest, result if keep else None)
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        payload = {"facts": self.facts, "results": self.results, "meta": self.meta}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            gitignore = self.path.parent / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("# Created by asyncmend\n*\n")
            fd, temp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(payload, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temp, self.path)
        except OSError:
            pass  # a read-only checkout still gets its results, just not cached
