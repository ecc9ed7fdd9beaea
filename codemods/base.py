"""The rule base class: what a rule declares, how it reports, how its fix is described.

A rule is a visitor. The engine walks each parsed module once and dispatches every node
to the ``visit_<NodeType>`` / ``leave_<NodeType>`` methods of all selected rules (see
``asyncmend.engine.walker``), so adding a rule never adds a traversal. A rule reports a
finding with ``self.report(node, message, fix=...)``; a fix is a set of node
replacements (by identity) plus imports to add, applied by the engine afterwards.

Rules do not use libcst's ``MetadataWrapper``: scope and parent metadata cost several
times the parse itself. ``self.ancestors`` (the walker's stack) and the per-file
``SemanticModel`` (``self.semantic``, see ``asyncmend.codemods.semantic``) answer what
the rules ask, each question once per tree.
"""

from __future__ import annotations

import contextlib
import enum
import inspect
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

import libcst as cst

from asyncmend.codemods.facts.gate import GateFacts
from asyncmend.codemods.semantic.model import SemanticModel

if TYPE_CHECKING:
    from asyncmend.engine.config import Config
    from asyncmend.engine.index import RepoIndex


class Applicability(enum.Enum):
    """ruff's meaning: safe fixes keep behaviour, unsafe ones change it on purpose."""

    SAFE = "safe"
    UNSAFE = "unsafe"
    NONE = "none"


#: A node replacement: the new node, ``cst.RemovalSentinel.REMOVE``, or a
#: ``cst.FlattenSentinel`` of several statements.
Replacement = cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel


@dataclass(frozen=True)
class ImportSpec:
    """``import module`` (obj None) or ``from module import obj [as asname]``."""

    module: str
    obj: str | None = None
    asname: str | None = None


@dataclass
class Fix:
    """What a fix changes: original node -> replacement, plus imports to add."""

    message: str
    applicability: Applicability
    replacements: list[tuple[cst.CSTNode, Replacement]] = field(default_factory=list)
    imports: list[ImportSpec] = field(default_factory=list)
    #: Names of module-level imports whose uses the fix removes: the import is dropped
    #: when nothing else reads the name (and ``__all__`` does not list it).
    maybe_unused: list[str] = field(default_factory=list)


#: False inside ``fixes_deferred()`` (see ``Rule.report``).
_BUILD_FIXES: ContextVar[bool] = ContextVar("asyncmend_build_fixes", default=True)


@contextlib.contextmanager
def fixes_deferred() -> Iterator[None]:
    """Within: a fix given to ``Rule.report`` as a function is not built, and its finding
    carries none. For a language server's diagnostics, which show findings and no fix:
    the editor asks for fixes in a pass of their own, when a code action wants one."""
    token = _BUILD_FIXES.set(False)
    try:
        yield
    finally:
        _BUILD_FIXES.reset(token)


@dataclass
class RawFinding:
    """A finding as a rule reports it, still tied to the tree (positions come later)."""

    rule: type[Rule]
    node: cst.CSTNode
    message: str
    fix: Fix | None


@dataclass
class FileContext:
    """Everything a rule may read about the file being checked."""

    path: str
    module: cst.Module
    config: Config
    index: RepoIndex
    #: Module name of this file within the repo index (``app.services.users``) or None.
    module_name: str | None = None
    #: The file's bytes as read, for cheap token checks before costly analysis (fixes
    #: of earlier rounds may have added code that is not in them).
    source: bytes = b""

    @cached_property
    def semantic(self) -> SemanticModel:
        """The model of this tree, built lazily; it owns every memo of the tree."""
        return SemanticModel(self)

    def release(self) -> None:
        """Drop the model once the file is done. The model and this context refer to
        each other, and its memos to the tree: a cycle only the cyclic collector
        would free (batch runs keep it off); cut here, reference counting frees the
        tree at once."""
        model = self.__dict__.pop("semantic", None)
        if model is not None:
            model.release()


class TokenMemo(dict[bytes, bool]):
    """Whether each byte string occurs in one file's bytes, each searched for once."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data = data

    def __missing__(self, token: bytes) -> bool:
        found = self[token] = token in self.data
        return found


class Rule:
    """Base class of every asyncmend rule.

    Subclasses set the class attributes below, write their docstring as
    *What it does / Why is this bad / Example / Use instead* (``asyncmend explain``
    prints it), and define ``visit_<Node>`` / ``leave_<Node>`` methods.
    """

    #: Rule code, e.g. ``AM101``.
    code: ClassVar[str]
    #: kebab-case name, e.g. ``bare-session``.
    name: ClassVar[str]
    #: The best fix the rule can offer (individual findings may offer less).
    fix_applicability: ClassVar[Applicability] = Applicability.NONE
    #: Byte strings of which at least one must occur in a file for the rule to run on
    #: it (the prefilter). Empty means "always run".
    triggers: ClassVar[tuple[bytes, ...]] = ()
    #: Byte strings each of which must occur in a file for the rule to run on it (the
    #: prefilter's second half): only what every file the rule can report in contains,
    #: e.g. ``b"async"`` for a rule that reports only inside an ``async def`` (which
    #: ``async\tdef`` and ``async\<newline> def`` spell too, unlike ``b"async "``).
    requires: ClassVar[tuple[bytes, ...]] = ()
    #: Whether the rule reads the repo index built in pass 1.
    uses_index: ClassVar[bool] = False
    #: ruff's preview status: a new rule, or one under the precision bar (>= 90% reviewed
    #: precision on the ecosystem corpus, no wrong fix), runs only with ``--preview`` /
    #: ``preview = true``. Its docstring says why it is in preview.
    preview: ClassVar[bool] = False
    #: Settings of the rule's own ``[tool.asyncmend.<CODE>]`` section, with defaults.
    #: Unknown keys there are a config error.
    settings_defaults: ClassVar[dict[str, Any]] = {}
    #: The values a setting accepts, where they are a closed set (checked with the config).
    settings_choices: ClassVar[dict[str, tuple[Any, ...]]] = {}
    #: What ``candidate`` reads (rule files name it ``Rule.Gate``).
    Gate: TypeAlias = GateFacts

    def __init__(self, context: FileContext, ancestors: list[cst.CSTNode]) -> None:
        self.context = context
        #: The walker's stack: the ancestors of the node being visited, outermost first.
        #: While in ``visit_X(node)``, ``ancestors[-1]`` is ``node``'s parent.
        self.ancestors = ancestors
        self.findings: list[RawFinding] = []

    @classmethod
    def tokens(cls, config: Config) -> tuple[bytes, ...]:
        """The prefilter tokens under ``config`` (rules with configurable names extend
        ``triggers`` with them)."""
        return cls.triggers

    @classmethod
    def prefilter(cls, data: bytes, config: Config, holds: TokenMemo | None = None) -> bool:
        """Whether the rule may report anything in a file of these bytes: one of its
        ``tokens`` (if any) and each of its ``requires`` occur in them (``holds``: the
        answers found so far for these bytes, shared by the rules asked in turn)."""
        holds = TokenMemo(data) if holds is None else holds
        tokens = cls.tokens(config)
        return (not tokens or any(holds[token] for token in tokens)) and all(
            holds[token] for token in cls.requires
        )

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        """The candidate gate: whether the rule can report anything in the file whose
        ``ast`` facts are ``gate``. Exact or over-approximate, never dropping a finding
        (the file is parsed with libcst only when some selected rule says True). A rule
        without its own test is always a candidate."""
        return True

    # -- reporting -------------------------------------------------------------

    def report(
        self,
        node: cst.CSTNode,
        message: str,
        *,
        fix: Fix | Callable[[], Fix | None] | None = None,
    ) -> None:
        """Record a finding at ``node`` (its start and end give the location). A costly
        ``fix`` can be given as a function building it: called here (the visit's
        ``self.ancestors`` still hold), unless fixes are deferred (``fixes_deferred``)."""
        if callable(fix):
            fix = fix() if _BUILD_FIXES.get() else None
        self.findings.append(RawFinding(type(self), node, message, fix))

    def finish(self) -> None:
        """Called after the walk, for rules that collect first and decide at the end."""

    # -- conveniences ------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self.context.config

    @property
    def semantic(self) -> SemanticModel:
        return self.context.semantic

    @property
    def settings(self) -> Mapping[str, Any]:
        """This rule's settings (``[tool.asyncmend]`` keys and its own section)."""
        return self.context.config.rule_settings(self.code)

    def enclosing_function(self) -> cst.FunctionDef | None:
        """The innermost function (or lambda: returns None then) around the current node."""
        for node in reversed(self.ancestors):
            if isinstance(node, cst.FunctionDef):
                return node
            if isinstance(node, cst.Lambda):
                return None
        return None

    def in_async_function(self) -> bool:
        """True when the innermost enclosing function is an ``async def``."""
        func = self.enclosing_function()
        return func is not None and func.asynchronous is not None

    # -- documentation -------------------------------------------------------------

    @classmethod
    def summary(cls) -> str:
        """The first sentence of *What it does*, for ``asyncmend rules``."""
        paragraph: list[str] = []
        for line in cls.doc().splitlines():
            stripped = line.strip()
            if stripped.startswith("#"):
                if paragraph:
                    break
                continue
            if not stripped and paragraph:
                break
            if stripped:
                paragraph.append(stripped)
        text = " ".join(paragraph)
        # A sentence ends at ". " before a capital (not "e.g. `x`", "a.b", "... foo").
        end = re.search(r"(?<!\.\.)(?<!\be\.g)(?<!\bi\.e)[.!?](?=\s+[A-Z]|$)", text)
        sentence = text[: end.start()] if end else text
        return sentence or cls.name

    @classmethod
    def doc(cls) -> str:
        return textwrap.dedent(inspect.getdoc(cls) or "").strip()
