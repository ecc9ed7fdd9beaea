"""Questions about the file's path that rules share."""

from __future__ import annotations

from functools import lru_cache
from pathlib import PurePath

#: pytest's default test files, and the folders test suites live in.
TEST_FILE_PATTERNS = ("test_*.py", "*_test.py", "conftest.py")
TEST_FOLDERS = frozenset({"tests", "test"})


@lru_cache(maxsize=256)  # asked per function body; PurePath.match parses each time
def is_test_file(path: str, module_name: str | None = None) -> bool:
    """A test module: ``test_*.py``, ``*_test.py``, ``conftest.py``, or in a ``tests``
    package. Folders count from the project (``module_name``), never from where the
    project itself happens to sit on disk."""
    pure = PurePath(path)
    if any(pure.match(pattern) for pattern in TEST_FILE_PATTERNS):
        return True
    folders = module_name.split(".")[:-1] if module_name else []
    return bool(TEST_FOLDERS.intersection(folders))
