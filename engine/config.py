"""Configuration: ``[tool.asyncmend]`` in the nearest pyproject.toml, plus CLI overrides.

Unknown keys are an error that names the key, as ruff does: a typo in a setting must
not silently turn a rule off.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncmend.engine.discovery import WalkMemo, real_folder

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


class ConfigError(Exception):
    """A configuration problem the user must fix; the message names file and key."""


#: Settings shared by several rules, with their defaults (DESIGN.md, rule catalogue).
SHARED_SETTINGS: dict[str, Any] = {
    # Callables whose result is an AsyncSession (besides async_sessionmaker instances
    # and AsyncSession(...)), e.g. "app.db.new_session" or a bare "new_session".
    "session-factories": [],
    # Names that hold an AsyncSession in a module that imports sqlalchemy.
    "session-names": ["session", "db", "db_session"],
    # AM401: callee name patterns (fnmatch) that are side effects.
    "side-effect-patterns": [
        "send_*",
        "*email*",
        "notify*",
        "*analytics*",
        "track_*",
        "log_to_*",
        "publish*",
        "*webhook*",
    ],
    # AM202: callees that are safe to run concurrently ("Class.method" by what the
    # receiver was bound to, or a dotted function name).
    "concurrency-safe": [
        "httpx.AsyncClient.*",
        "aiohttp.ClientSession.*",
        "asyncio.sleep",
    ],
    # AM501/AM502: the canonical lock order (model or lock names), first taken first.
    "lock-order": [],
}

#: Keys of ``[tool.asyncmend]`` that are not rule settings.
RUN_KEYS = {
    "extend",
    "select",
    "ignore",
    "extend-select",
    "exclude",
    "extend-exclude",
    "per-file-ignores",
    "unsafe-fixes",
    "respect-gitignore",
    "baseline",
    "force-exclude",
    "preview",
    "max-file-size",
    "line-length",
}


@dataclass
class Config:
    """The settings of one run."""

    select: list[str] = field(default_factory=lambda: ["AM"])
    ignore: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    unsafe_fixes: bool = False
    respect_gitignore: bool = True
    #: ``check``'s baseline file, relative to the config's folder (``baseline = "..."``).
    baseline: str | None = None
    #: Apply ``exclude`` to files named on the command line too (as ruff's).
    force_exclude: bool = False
    #: Run preview rules too (``preview = true`` / ``--preview``), as ruff's preview.
    preview: bool = False
    #: Files larger than this are skipped with a message (bytes, or "8MB"); None: 5 MB.
    max_file_size: int | str | None = None
    #: Lines a fix makes longer than this are split where possible (``line-length``;
    #: else the project's ``[tool.ruff]`` / ``[tool.black]`` line-length; else 88).
    line_length: int | None = None
    settings: dict[str, Any] = field(default_factory=lambda: dict(SHARED_SETTINGS))
    #: Per-rule sections: ``{"AM202": {"key": value}}``.
    rule_sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The pyproject.toml the config came from, if any; its folder is the project root.
    source: Path | None = None

    @property
    def root(self) -> Path:
        return self.source.parent if self.source else Path.cwd()

    def rule_settings(self, code: str) -> dict[str, Any]:
        merged = dict(self.settings)
        merged.update(self.rule_sections.get(code, {}))
        return merged

    def ignored_for(self, relpath: str) -> list[str]:
        """Codes ignored for a file by ``per-file-ignores`` (glob -> codes)."""
        codes: list[str] = []
        for pattern, ignored in self.per_file_ignores.items():
            if fnmatch.fnmatch(relpath, pattern) or fnmatch.fnmatch(Path(relpath).name, pattern):
                codes.extend(ignored)
        return codes

    def digest(self) -> str:
        """A stable hash of everything that can change a rule's output (cache key)."""
        payload = {
            "settings": self.settings,
            "sections": self.rule_sections,
            "per_file_ignores": self.per_file_ignores,
            "unsafe_fixes": self.unsafe_fixes,
            "preview": self.preview,
            "line_length": self.line_length,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


#: Config files, in the order they are looked for in one folder (as ruff's
#: ``.ruff.toml``, ``ruff.toml``, ``pyproject.toml``): the first two hold the keys at
#: top level, pyproject.toml under ``[tool.asyncmend]``.
CONFIG_NAMES = (".asyncmend.toml", "asyncmend.toml", "pyproject.toml")


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's data, or a ``ConfigError`` that says in one line what is wrong."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 (byte {exc.start})") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def asyncmend_table(path: Path, data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The asyncmend settings in a config file's data (None: a pyproject.toml without
    ``[tool.asyncmend]``). A ``tool`` or ``tool.asyncmend`` that is not a table is an error."""
    if path.name != "pyproject.toml":
        tool = data.get("tool")
        if isinstance(tool, dict) and "asyncmend" in tool:
            data = tool
        else:
            return data
    elif "tool" not in data:
        return None
    else:
        data = data["tool"]
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: `tool` must be a table, got {data!r}")
        if "asyncmend" not in data:
            return None
    table = data["asyncmend"]
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.asyncmend] must be a table, got {table!r}")
    return table


def find_config(start: Path) -> tuple[Path | None, Path | None]:
    """``(config file, project root marker)`` for ``start``: the nearest
    ``.asyncmend.toml`` / ``asyncmend.toml`` / pyproject.toml with ``[tool.asyncmend]``
    at or above it, and the nearest pyproject.toml at all (it marks the project root
    when there is no config). Every pyproject.toml on the way must be valid."""
    try:
        start = start.resolve()
    except (OSError, RuntimeError):  # a symlink loop: its folder still has a config
        start = Path(os.path.abspath(start))
    if not start.is_dir():
        start = start.parent
    nearest: Path | None = None
    for folder in (start, *start.parents):
        for name in CONFIG_NAMES:
            candidate = folder / name
            if not candidate.is_file():
                continue
            if name != "pyproject.toml":
                return candidate, nearest or candidate
            nearest = nearest or candidate
            if _has_asyncmend_table(candidate):
                return candidate, nearest
    return None, nearest


def _has_asyncmend_table(pyproject: Path) -> bool:
    """Whether a pyproject.toml holds ``[tool.asyncmend]``: read once per run for all
    the folders under it (by its size and mtime); an invalid one raises every time."""
    info = pyproject.stat()
    return _has_table_cached(str(pyproject), info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _has_table_cached(path: str, size: int, mtime_ns: int) -> bool:
    return asyncmend_table(Path(path), read_toml(Path(path))) is not None


def load_config(
    path: Path | None = None,
    *,
    start: Path | None = None,
    known_rule_settings: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None,
) -> Config:
    """Read the config from ``path`` (``--config``) or the nearest config file.

    ``known_rule_settings`` returns rule codes -> their ``settings_defaults``, to
    validate ``[tool.asyncmend.<CODE>]`` sections (default: the registry's rules; it is
    only called when such a section exists, since it imports the rules).
    """
    explicit = path is not None
    if path is None:
        path, marker = find_config(start or Path.cwd())
        if path is None:
            config = Config(source=marker)
            config.line_length = formatter_line_length(config.root)
            return config
    config = Config(source=path)
    known = known_rule_settings or _registry_settings
    _load_into(config, path, explicit=explicit, known=known, chain=())
    if config.line_length is None:
        config.line_length = formatter_line_length(config.root)
    return config


def formatter_line_length(root: Path) -> int | None:
    """The line length the project's formatter keeps to: ruff's (``ruff.toml``,
    ``.ruff.toml``, ``[tool.ruff]``), else black's; None if neither sets one. A file that
    cannot be read here is left to the tools that own it."""
    for name, keys in (
        (".ruff.toml", ()),
        ("ruff.toml", ()),
        ("pyproject.toml", ("tool", "ruff")),
        ("pyproject.toml", ("tool", "black")),
    ):
        candidate = root / name
        if not candidate.is_file():
            continue
        try:
            data: Any = read_toml(candidate)
        except ConfigError:
            continue
        for key in keys:
            data = data.get(key) if isinstance(data, dict) else None
        value = data.get("line-length") if isinstance(data, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _load_into(
    config: Config,
    path: Path,
    *,
    explicit: bool,
    known: Callable[[], Mapping[str, Mapping[str, Any]]],
    chain: tuple[Path, ...],
) -> None:
    """Apply the file at ``path`` to ``config``: first the file it ``extend``s (as
    ruff's ``extend``: a path relative to this file), then its own keys."""
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise ConfigError(f"{path}: `extend` forms a cycle: {cycle}")
    data = read_toml(path)
    table = asyncmend_table(path, data)
    if table is None:
        if not explicit:
            return
        table = {}
    table = dict(table)
    base = table.pop("extend", None)
    if base is not None:
        _expect(base, str, "extend", str(path))
        target = (path.parent / base).expanduser()
        if not target.is_file():
            raise ConfigError(f"{path}: [tool.asyncmend] extend: {base}: no such file")
        _load_into(config, target, explicit=True, known=known, chain=(*chain, resolved))
    apply_table(config, table, where=str(path), known_rule_settings=known)


def _registry_settings() -> dict[str, Mapping[str, Any]]:
    from asyncmend.codemods.registry import all_rules

    return {rule.code: rule.settings_defaults for rule in all_rules()}


def _expect(value: Any, kind: type | tuple[type, ...], key: str, where: str) -> Any:
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}: [tool.asyncmend] {key}: expected {names}, got {value!r}")
    return value


def _string_list(value: Any, key: str, where: str) -> list[str]:
    _expect(value, list, key, where)
    for item in value:
        _expect(item, str, key, where)
    return list(value)


def apply_table(
    config: Config,
    table: Mapping[str, Any],
    *,
    where: str,
    known_rule_settings: Callable[[], Mapping[str, Mapping[str, Any]]],
) -> None:
    """Validate ``table`` (the ``[tool.asyncmend]`` mapping) and merge it into ``config``."""
    for key, value in table.items():
        if key in ("select", "ignore", "exclude", "extend-exclude", "extend-select"):
            items = _string_list(value, key, where)
            if key == "select":
                config.select = items
            elif key == "extend-select":
                config.select = [*config.select, *items]
            elif key == "ignore":
                config.ignore = items
            else:
                config.exclude = [*config.exclude, *items]
        elif key == "per-file-ignores":
            _expect(value, dict, key, where)
            config.per_file_ignores = {
                str(k): _known_codes(_string_list(v, f"{key}.{k}", where), f"{key}.{k}", where)
                for k, v in value.items()
            }
        elif key in ("unsafe-fixes", "respect-gitignore", "force-exclude", "preview"):
            _expect(value, bool, key, where)
            setattr(config, key.replace("-", "_"), value)
        elif key == "max-file-size":
            _expect(value, (int, str), key, where)
            from_text = str(value).strip().upper().removesuffix("B")
            if isinstance(value, bool) or not from_text.rstrip("KMG").replace(".", "", 1).isdigit():
                raise ConfigError(
                    f"{where}: [tool.asyncmend] {key}: expected a size such as 5000000 or "
                    f'"8MB", got {value!r}'
                )
            config.max_file_size = value
        elif key == "line-length":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 320:
                raise ConfigError(
                    f"{where}: [tool.asyncmend] {key}: expected a whole number from 1 to 320, "
                    f"got {value!r}"
                )
            config.line_length = value
        elif key == "baseline":
            config.baseline = _expect(value, str, key, where)
        elif key in SHARED_SETTINGS:
            default = SHARED_SETTINGS[key]
            if isinstance(default, list):
                config.settings[key] = _string_list(value, key, where)
            else:
                config.settings[key] = _expect(value, type(default), key, where)
        elif isinstance(value, dict) and key.upper() in (known := known_rule_settings()):
            code = key.upper()
            allowed = known[code]
            for sub in value:
                if sub not in allowed:
                    known = ", ".join(sorted(allowed)) or "none"
                    raise ConfigError(
                        f"{where}: unknown key '{sub}' in [tool.asyncmend.{key}] (known: {known})"
                    )
                _check_rule_setting(
                    code, sub, value[sub], allowed[sub], f"{where}: [tool.asyncmend.{key}]"
                )
            config.rule_sections[code] = dict(value)
        else:
            known = ", ".join(sorted(RUN_KEYS | set(SHARED_SETTINGS)))
            raise ConfigError(f"{where}: unknown key '{key}' in [tool.asyncmend] (known: {known})")


def _check_rule_setting(code: str, key: str, value: Any, default: Any, where: str) -> None:
    """A rule setting has its default's type and, where the rule lists them
    (``Rule.settings_choices``), one of its choices."""
    if default is not None and not isinstance(value, type(default)):
        raise ConfigError(f"{where} {key}: expected {type(default).__name__}, got {value!r}")
    from asyncmend.codemods.registry import UnknownRuleError, rule_by_code

    try:
        choices = rule_by_code(code).settings_choices.get(key)
    except UnknownRuleError:
        return
    if choices and value not in choices:
        expected = ", ".join(repr(choice) for choice in choices)
        raise ConfigError(f"{where} {key}: expected one of {expected}, got {value!r}")


def _known_codes(codes: list[str], key: str, where: str) -> list[str]:
    """``codes`` if each is a rule code or prefix the registry knows (a typo must not
    silently keep a rule on)."""
    from asyncmend.codemods.registry import UnknownRuleError, check_selectors

    try:
        check_selectors(codes)
    except UnknownRuleError as exc:
        raise ConfigError(f"{where}: [tool.asyncmend] {key}: {exc}") from exc
    return codes


class ConfigResolver:
    """Each file's config, as ruff finds it: the nearest config file at or above the
    file's folder, with the run's command-line overrides applied on top."""

    def __init__(
        self,
        overrides: Callable[[Config], None],
        known_rule_settings: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None,
        walks: WalkMemo | None = None,
    ) -> None:
        self._overrides = overrides
        self._known = known_rule_settings
        #: The run's listings (``CONFIG_NAMES`` recorded): which folders hold a config
        #: file, and the real path of each file's folder, without a system call.
        self._walks = walks
        self._by_folder: dict[str, Config] = {}
        #: By the folder as the path names it (one run, one working directory).
        self._by_named_folder: dict[str, Config] = {}
        self._by_source: dict[Path | None, Config] = {}
        self._found: dict[str, tuple[Path | None, Path | None]] = {}
        self._real: dict[str, str] = {}

    def for_file(self, path: str | Path) -> Config:
        named = os.path.dirname(path)  # files of one folder share its answer
        config = self._by_named_folder.get(named)
        if config is not None:
            return config
        folder = os.path.dirname(os.path.abspath(path))
        config = self._by_folder.get(folder)
        if config is None:
            found, marker = self._find_config(path, folder)
            key = found or marker
            config = self._by_source.get(key)
            if config is None:
                config = load_config(found, known_rule_settings=self._known) if found else None
                config = config or Config(source=marker)
                self._overrides(config)
                self._by_source[key] = config
            self._by_folder[folder] = config
        self._by_named_folder[named] = config
        return config

    def _find_config(self, path: str | Path, folder: str) -> tuple[Path | None, Path | None]:
        """``find_config(folder)`` (``folder`` holds ``path``), asked once per resolved
        folder: a folder holding no config file has its parent's answer (a run over a
        tree asks for every folder)."""
        walked = self._walks.real_folder_of(os.fspath(path)) if self._walks else None
        if walked is not None:
            return self._found_in(walked)
        if os.pardir in os.fspath(path):  # a symlink before `..` leads elsewhere
            return self._found_in(os.path.realpath(os.path.dirname(path) or os.curdir))
        return self._found_in(real_folder(folder, self._real))

    def _holds_config(self, real: str) -> bool:
        for name in CONFIG_NAMES:
            known = self._walks.holds_file(real, name) if self._walks else None
            if known if known is not None else os.path.isfile(os.path.join(real, name)):
                return True
        return False

    def _found_in(self, real: str) -> tuple[Path | None, Path | None]:
        found = self._found.get(real)
        if found is None:
            parent = os.path.dirname(real)
            if parent != real and not self._holds_config(real):
                found = self._found_in(parent)
            else:
                found = find_config(Path(real))
            self._found[real] = found
        return found
