"""User codemods (``asyncmend run CODEMOD``): load ``package.module:Class`` or
``path/to/file.py:Class``, and run a libcst codemod on one file the way pass 2 runs rules.

An asyncmend ``Rule`` subclass runs as a rule (findings and fixes). A libcst
``Codemod`` (``CodemodCommand``, ``VisitorBasedCodemodCommand``,
``ContextAwareTransformer``) gets ``transform_module`` on the parsed file: no findings,
only the change, counted under the class's name.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asyncmend.codemods.base import Rule
from asyncmend.engine.errors import CodemodError
from asyncmend.engine.index import module_name_for
from asyncmend.engine.results import FileResult
from asyncmend.engine.syntax import parse_into
from asyncmend.engine.verify import verify_output

if TYPE_CHECKING:
    from asyncmend.engine.job import Job


@dataclass(frozen=True)
class UserCodemod:
    """A loaded libcst codemod and the keyword arguments for its ``__init__``."""

    cls: type
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.cls.__name__


def load_class(spec: str) -> type:
    """The class named by ``module:Class`` or ``path/to/file.py:Class``."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise CodemodError(f"codemod '{spec}': expected module:Class or path/to/file.py:Class")
    if target.endswith(".py") or "/" in target or "\\" in target:
        module = _load_file(Path(target), spec)
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))  # as `python -m` does: the cwd's modules
        try:
            module = importlib.import_module(target)
        except (Exception, SystemExit) as exc:  # its import runs user code: any error
            raise CodemodError(
                f"codemod '{spec}': cannot import {target}: {_describe(exc)}"
            ) from exc
    value = module
    for part in attr.split("."):
        value = getattr(value, part, None)
        if value is None:
            raise CodemodError(f"codemod '{spec}': {target} has no attribute {attr}")
    if not isinstance(value, type):
        raise CodemodError(f"codemod '{spec}': {attr} is not a class")
    return value


def _load_file(path: Path, spec: str) -> Any:
    if not path.is_file():
        raise CodemodError(f"codemod '{spec}': {path}: no such file")
    resolved = path.resolve()
    # A stable module name, registered in sys.modules so that worker processes (forked
    # after loading) and pickle find the classes by reference.
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
    name = f"asyncmend_user_codemod_{resolved.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    loader_spec = importlib.util.spec_from_file_location(name, resolved)
    if loader_spec is None or loader_spec.loader is None:
        raise CodemodError(f"codemod '{spec}': cannot load {path}")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module
    try:
        loader_spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # SystemExit(0) too: it is no success
        del sys.modules[name]
        raise CodemodError(f"codemod '{spec}': {path} failed to import: {_describe(exc)}") from exc
    return module


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r}) on import"
    return str(exc) or type(exc).__name__


def resolve_codemod(
    spec: str, args: Mapping[str, str] | None = None
) -> tuple[type[Rule] | None, UserCodemod | None]:
    """``(rule, None)`` for an asyncmend rule, ``(None, codemod)`` for a libcst codemod."""
    from libcst.codemod import Codemod

    cls = load_class(spec)
    if issubclass(cls, Rule):
        if args:
            raise CodemodError(f"codemod '{spec}': rules take settings from config, not --arg")
        if not isinstance(getattr(cls, "code", None), str):
            raise CodemodError(f"codemod '{spec}': a Rule subclass needs a `code`")
        return cls, None
    if issubclass(cls, Codemod):
        return None, UserCodemod(cls, _codemod_kwargs(cls, dict(args or {}), spec))
    raise CodemodError(
        f"codemod '{spec}': {cls.__name__} is neither an asyncmend Rule nor a libcst Codemod"
    )


def _codemod_kwargs(cls: type, args: dict[str, str], spec: str) -> dict[str, Any]:
    """Keyword arguments from ``--arg key=value``, typed and defaulted by the codemod's
    ``add_args`` (as libcst's own CLI does) where it declares them."""
    parser = argparse.ArgumentParser(add_help=False)
    add_args = getattr(cls, "add_args", None)
    if callable(add_args):
        add_args(parser)
    actions = {a.dest: a for a in parser._actions if a.dest and a.dest != "help"}
    kwargs: dict[str, Any] = {}
    for key, value in args.items():
        dest = key.replace("-", "_")
        action = actions.get(dest)
        if action is not None and callable(action.type):
            try:
                kwargs[dest] = action.type(value)
            except (TypeError, ValueError) as exc:
                raise CodemodError(f"codemod '{spec}': --arg {key}: {exc}") from exc
        else:
            kwargs[dest] = value
    _check_signature(cls, kwargs, spec)
    for dest, action in actions.items():
        if dest in kwargs:
            continue
        if action.required:
            raise CodemodError(f"codemod '{spec}': missing --arg {dest}=VALUE")
        if action.default is not None and action.default is not argparse.SUPPRESS:
            kwargs[dest] = action.default
    return kwargs


def _check_signature(cls: type, kwargs: Mapping[str, Any], spec: str) -> None:
    """Arguments the codemod's ``__init__`` does not take: an error now, not per file."""
    import inspect

    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    for key in kwargs:
        if key not in params or key in ("self", "context"):
            known = ", ".join(n for n in params if n not in ("self", "context")) or "none"
            raise CodemodError(f"codemod '{spec}': unknown --arg {key} (takes: {known})")


def process_with_codemod(
    path: str, data: bytes, job: Job, *, relpath: str | None = None
) -> FileResult:
    """Pass 2 for a libcst codemod: parse, ``transform_module``, verify."""
    from libcst.codemod import CodemodContext, SkipFile

    codemod = job.codemod
    assert codemod is not None
    result = FileResult(path=path)
    module = parse_into(result, path, data)
    if module is None:
        return result
    module_name = module_name_for(path)
    package = module_name if path.endswith("__init__.py") else None
    if module_name and package is None:
        package = module_name.rpartition(".")[0] or None
    context = CodemodContext(filename=path, full_module_name=module_name, full_package_name=package)
    try:
        transformer = codemod.cls(context, **codemod.kwargs)
        updated = transformer.transform_module(module)
    except SkipFile:
        result.warnings = list(context.warnings)
        return result
    except Exception:
        import traceback

        result.error = (
            f"internal error: codemod {codemod.name} failed on {path}:\n{traceback.format_exc()}"
        )
        return result
    result.warnings = list(context.warnings)
    new_bytes = updated.bytes
    if new_bytes == data:
        return result
    problem = verify_output(path, data, new_bytes)
    if problem:
        result.error = problem
        return result
    if job.fix:
        result.fixed = new_bytes
        result.original = data
        result.applied = {codemod.name: 1}
    return result
