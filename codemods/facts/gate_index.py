"""The candidate gate's one way into the repo index: a narrow set of questions whose
answers are plain data (``str``, ``bool``, tuples of ``str``).

Every question ``GateFacts`` and the rules' ``candidate`` tests ask of the repo goes
through ``GateIndex``. That makes the gate's verdict a function of the file, the
config and these answers only, so pass 1 can run the gate on its own ``ast`` tree
against an index holding just that file (``RecordingGateIndex`` notes every question
and answer), and pass 2 can reuse the verdict when the real index gives every noted
question the same answer (``replays``): the same answers take the same path to the
same verdict, and the file is not parsed again (``engine/replay.py``).

A module the index does not hold answers like a module with no facts, so a file's
imports of other repo modules cost no question unless their facts matter.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from asyncmend.codemods.facts.locks import lock_facts
from asyncmend.codemods.facts.transactions import (
    no_result_handlers,
    repo_expires_on_commit,
    some_sessionmaker_expires,
)
from asyncmend.codemods.semantic.lock_graph import build_graph

if TYPE_CHECKING:
    from asyncmend.codemods.facts.base import FileFacts
    from asyncmend.engine.index import RepoIndex

F = TypeVar("F", bound=Callable[..., Any])

#: One asked question: (method name, arguments, answer).
Asked = tuple[str, tuple[Hashable, ...], Hashable]

#: Repo-wide facts a gate may ask about (``repo_has``).
_REPO_FACTS = {"no_result_handlers": no_result_handlers}


def question(method: F) -> F:
    """A question of the facade: its answer goes through ``_answer`` (where the
    recording facade notes it)."""

    @functools.wraps(method)
    def ask(self: GateIndex, *args: Hashable) -> Any:
        return self._answer(method, args)

    return ask  # type: ignore[return-value]


#: Where a question looks: None is the gated file itself (found by path: two files may
#: share a module name); ``("module", m)`` the module ``m``; ``("import", t)`` the
#: modules an import of ``t`` may come from (``t`` and the module above it, before and
#: after re-exports are followed). A question about a place names the place, not the
#: modules it resolves to, so that pass 1 (which knows no other file) and pass 2 agree
#: whenever the facts that matter agree.
Place = tuple[str, str] | None


#: Questions whose answer depends on the repo index alone, not on the gated file
#: (unless their place is None: the file itself): answered once per state of the index
#: for every file that asks (each file's gate and replay ask ~40, most the same
#: ``resolve`` and ``nonempty`` of common imports). A question left out is asked per file.
_SHARED = frozenset(
    {"resolve", "is_coroutine_function", "resolved_in", "contains", "ends_in", "nonempty",
     "entries", "factory_classes_in", "repo_may_expire_on_commit", "repo_has"}
)  # fmt: skip
#: The shared questions whose first argument is a ``Place``.
_PLACED = frozenset({"contains", "ends_in", "nonempty", "entries", "factory_classes_in"})


def _shared_answers(index: RepoIndex) -> dict[tuple[str, tuple[Hashable, ...]], Any]:
    """The shared answers of ``index`` in its current state (``RepoIndex.state``): kept on
    the index, and started again when a file's facts changed (an editor's index)."""
    state = index.state()
    held: tuple[Hashable, dict[tuple[str, tuple[Hashable, ...]], Any]] | None = index.__dict__.get(
        "_gate_shared"
    )
    if held is None or held[0] != state:
        held = index.__dict__["_gate_shared"] = (state, {})
    return held[1]


class GateIndex:
    """The repo index as the candidate gate of the file at ``path`` sees it."""

    def __init__(self, index: RepoIndex, path: str) -> None:
        self._index = index
        self._path = path
        self._places: dict[Place, list[FileFacts]] = {}
        self._shared = _shared_answers(index)

    def _answer(self, method: Callable[..., Any], args: tuple[Hashable, ...]) -> Any:
        name = method.__name__
        if name not in _SHARED or (name in _PLACED and args[0] is None):
            return method(self, *args)
        key = (name, args)
        shared = self._shared
        if key in shared:
            return shared[key]
        answer = shared[key] = method(self, *args)
        return answer

    def _modules(self, place: Place) -> list[FileFacts]:
        found = self._places.get(place)
        if found is None:
            found = self._places[place] = self._find(place)
        return found

    def _find(self, place: Place) -> list[FileFacts]:
        index = self._index
        if place is None:
            here = index.by_path.get(self._path)
            return [here] if here is not None else []
        kind, name = place
        if kind == "module":
            names = {name}
        else:  # "import"
            names = set()
            for target in {name, index.resolve(name)}:
                names.update((target, target.rpartition(".")[0]))
        return [facts for module in names if (facts := index.by_module.get(module)) is not None]

    def _entries(self, place: Place, fact: str) -> list[Iterable[str]]:
        """Fact ``fact`` of each module of ``place`` (most places hold none: pass 2 asks
        about every third-party import of a file)."""
        modules = self._modules(place)
        if not modules:
            return []
        if fact == "sessionmakers":
            return [facts.sessionmakers for facts in modules]
        return [facts.extra.get(fact, ()) for facts in modules]

    # -- the questions ----------------------------------------------------------------

    @question
    def resolve(self, name: str) -> str:
        """``RepoIndex.resolve``: the dotted name with re-exports followed."""
        return self._index.resolve(name)

    @question
    def is_coroutine_function(self, name: str) -> bool:
        """``RepoIndex.is_coroutine_function``."""
        return self._index.is_coroutine_function(name)

    @question
    def resolved_in(self, name: str, fact: str) -> bool:
        """``name``, with re-exports followed, is an entry of pass-1 fact ``fact`` of its
        module (``pkg.db.Session`` in ``pkg.db``'s ``scoped_sessions``)."""
        module, _, leaf = self._index.resolve(name).rpartition(".")
        return any(leaf in entries for entries in self._entries(("module", module), fact))

    @question
    def contains(self, place: Place, fact: str, leaf: str) -> bool:
        """Pass-1 fact ``fact`` (``sessionmakers`` or a collector's) of ``place`` has the
        entry ``leaf``."""
        return any(leaf in entries for entries in self._entries(place, fact))

    @question
    def ends_in(self, place: Place, fact: str, leaf: str) -> bool:
        """Some entry of fact ``fact`` of ``place`` is a dotted name ending in ``leaf``."""
        return self._has(place, fact, leaf)

    @question
    def nonempty(self, place: Place, fact_names: tuple[str, ...]) -> bool:
        """Some of the pass-1 facts ``fact_names`` of ``place`` found something."""
        return any(
            facts.sessionmakers if fact == "sessionmakers" else facts.extra.get(fact)
            for facts in self._modules(place)
            for fact in fact_names
        )

    @question
    def entries(self, place: Place, fact: str) -> tuple[str, ...]:
        """The entries of fact ``fact`` of ``place``."""
        return tuple(key for entries in self._entries(place, fact) for key in entries)

    @question
    def factory_classes_in(self, place: Place, fact: str, leaf: str | None) -> bool:
        """Some class that a factory of ``place`` is annotated to return
        (``returned_classes``) may live in a module whose fact ``fact`` has an entry
        ending in ``leaf`` (any entry when None): where ``adapter = get_adapter()``'s
        methods are."""
        index = self._index
        for facts in self._modules(place):
            for info in facts.extra.get("returned_classes", {}).values():
                qualified = f"{facts.module}.{info['class']}" if info["local"] else info["class"]
                for name in {qualified, index.resolve(qualified)}:
                    parts = name.split(".")
                    for split in range(1, len(parts)):
                        module = ("module", ".".join(parts[:split]))
                        if self._has(module, fact, leaf):
                            return True
        return False

    def _has(self, place: Place, fact: str, leaf: str | None) -> bool:
        """Some entry of ``fact`` of ``place`` ends in ``leaf`` (any entry: None)."""
        if leaf is None:
            return any(entries for entries in self._entries(place, fact))
        return any(
            key.rsplit(".", 1)[-1] == leaf
            for entries in self._entries(place, fact)
            for key in entries
        )

    def _repo_wide(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """A repo-wide answer (over every file's pass-1 facts), computed once per state
        of the index rather than once per gated file: kept on the index with the facts
        it was computed from, and computed again when any file's facts changed (an
        editor's index changes under the language server)."""
        memo: dict[Hashable, tuple[tuple[Any, ...], Any]] = self._index.__dict__.setdefault(
            "_gate_repo_wide", {}
        )
        state = tuple(self._index.by_path.values())
        held = memo.get(key)
        if held is not None and held[0] == state:  # identity first: the files' facts
            return held[1]
        answer = compute()
        memo[key] = (state, answer)
        return answer

    @question
    def repo_may_expire_on_commit(self) -> bool:
        """The repo's sessions of unknown factory expire on commit, or some async
        sessionmaker of the repo keeps ``expire_on_commit=True``."""
        files = self._index.by_path.values()
        return self._repo_wide(
            "expires_on_commit",
            lambda: repo_expires_on_commit(files) or some_sessionmaker_expires(files),
        )

    @question
    def repo_has(self, fact: str) -> bool:
        """Some file of the repo has the pass-1 fact ``fact`` (``no_result_handlers``)."""
        reader = _REPO_FACTS[fact]
        return self._repo_wide(
            ("repo_has", fact), lambda: any(reader.of(f) for f in self._index.by_path.values())
        )

    @question
    def breaks_lock_order(self, lock_order: tuple[str, ...]) -> bool:
        """The repo's lock graph (under ``lock-order``) has a site in this file where an
        order cycle is broken (AM502)."""
        here = self._index.by_path.get(self._path)
        if here is not None and not lock_facts.of(here).get("sites"):
            return False  # no lock taken under another here (the graph's sites: pass 1's)
        graph = self._repo_wide(
            ("lock_graph", lock_order), lambda: build_graph(self._index, lock_order)
        )
        return bool(graph.breaking_sites(self._path))


class RecordingGateIndex(GateIndex):
    """A ``GateIndex`` that notes every question asked and its answer."""

    def __init__(self, index: RepoIndex, path: str) -> None:
        super().__init__(index, path)
        self.asked: dict[tuple[str, tuple[Hashable, ...]], Hashable] = {}

    def _answer(self, method: Callable[..., Any], args: tuple[Hashable, ...]) -> Any:
        answer = method(self, *args)
        self.asked[method.__name__, args] = answer
        return answer

    def record(self) -> tuple[Asked, ...]:
        return tuple((name, args, answer) for (name, args), answer in self.asked.items())


def replays(index: GateIndex, asked: Iterable[Asked]) -> bool:
    """Whether ``index`` gives every question of ``asked`` the noted answer."""
    return all(getattr(index, name)(*args) == answer for name, args, answer in asked)
