"""``--changed-since REF``: the files git says changed since a ref (committed, staged,
unstaged) plus untracked ones that are not ignored."""

from __future__ import annotations

import subprocess
from pathlib import Path

from asyncmend.engine.discovery import DiscoveryError


class GitError(DiscoveryError):
    """Not in a git repository, no git, or a ref git does not know."""


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise GitError("--changed-since needs git, and git is not installed") from exc


def changed_files(ref: str, start: Path) -> set[Path]:
    """Resolved paths of the files changed since ``ref`` in the repository around ``start``."""
    folder = start if start.is_dir() else start.parent
    folder = folder.resolve()
    top = _git(["rev-parse", "--show-toplevel"], folder)
    if top.returncode != 0:
        raise GitError(f"--changed-since: {folder} is not inside a git repository")
    root = Path(top.stdout.decode().strip())
    if (
        ref.startswith("-")
        or _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root).returncode
    ):
        raise GitError(f"--changed-since: '{ref}' is not a commit git knows in {root}")
    # `git diff REF` compares REF with the working tree: committed, staged and unstaged.
    tracked = _git(["diff", "--name-only", "-z", "--no-renames", ref, "--"], root)
    untracked = _git(["ls-files", "--others", "--exclude-standard", "-z"], root)
    for done in (tracked, untracked):
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip().splitlines()
            raise GitError(f"--changed-since: git failed: {message[0] if message else 'error'}")
    names = [*tracked.stdout.split(b"\0"), *untracked.stdout.split(b"\0")]
    return {(root / name.decode("utf-8", "surrogateescape")).resolve() for name in names if name}
