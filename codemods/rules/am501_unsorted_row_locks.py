"""AM501 unsorted-row-locks."""

from __future__ import annotations

import ast
from dataclasses import dataclass

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, Rule
from asyncmend.codemods.edits.comments import comment_lines, comments_in
from asyncmend.codemods.edits.statements import simple_statement
from asyncmend.codemods.facts.base import release_closure
from asyncmend.codemods.semantic.bindings import bound_names
from asyncmend.codemods.semantic.locks import RowLock, model_node, repo_lock_graph, row_lock
from asyncmend.codemods.semantic.sessions import session_names
from asyncmend.codemods.semantic.tree import (
    SCOPE_NODES,
    dotted_name,
    iter_children,
    iter_descendants,
    reads,
)


@dataclass
class _Acquisition:
    lock: RowLock
    model: tuple[str, str]
    #: The blocks (IndentedBlock ids) around the lock, outermost first.
    path: tuple[int, ...]
    #: The statement line that holds the lock, and the block it stands in.
    line: cst.SimpleStatementLine | None
    block: cst.IndentedBlock | None
    #: The absolute indentation of ``block``'s statements.
    indent: str = ""
    #: Position among the function's lock and release events.
    order: int = 0


@dataclass
class _Release:
    """``await <session>.commit()`` / ``rollback()``: the row locks end with it."""

    session: str | None
    path: tuple[int, ...]
    order: int


class UnsortedRowLocks(Rule):
    """## What it does
    Finds row locks taken in an order that depends on the arguments, or against the
    repo's lock order. Row locks are `await s.get(M, key, with_for_update=True)` (or
    `with_for_update={...}`) and `select(M).where(M.id == key).with_for_update()`
    executed through the session; two or more held at once in one function must come
    in one global order.

    ## Why is this bad?
    A row lock is held until the transaction ends. When one request locks account 1 and
    then account 2 while another locks 2 and then 1 (two transfers in opposite
    directions), each waits for the other: PostgreSQL detects the deadlock and aborts one
    transaction (`DeadlockDetectedError`), after a `deadlock_timeout` of stalled
    requests. Taking locks in one global order (sorted keys; a fixed order of models)
    makes this impossible.

    ## Example
    ```python
    async def transfer(session: AsyncSession, from_id: int, to_id: int, amount: int) -> None:
        source = await session.get(Account, from_id, with_for_update=True)
        target = await session.get(Account, to_id, with_for_update=True)
        source.balance -= amount
        target.balance += amount
    ```

    ## Use instead
    ```python
    async def transfer(session: AsyncSession, from_id: int, to_id: int, amount: int) -> None:
        locked = {
            pk: await session.get(Account, pk, with_for_update=True)
            for pk in sorted({from_id, to_id})
        }
        source, target = locked[from_id], locked[to_id]
        source.balance -= amount
        target.balance += amount
    ```
    The fix locks rows of one model in sorted key order (correct when the keys are
    equal), and reorders independent locks of different models into the repo's lock
    order (`lock-order` in the config, else the order the lock graph implies). Locks
    whose keys depend on earlier rows, or with code between them, are only reported.
    """

    code = "AM501"
    name = "unsorted-row-locks"
    fix_applicability = Applicability.SAFE
    triggers = (b"with_for_update",)
    uses_index = True

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        # Two row locks (`row_lock`: an await spelling `with_for_update`, as a keyword
        # or a `.with_for_update()` of the statement it executes) in one `async def`,
        # on plain names (`session_names` holds no dotted ones) that may hold a session.
        if gate.source.count(b"with_for_update") < 2:
            return False
        counts: dict[int, int] = {}
        for frame, session in gate.row_locks:
            if (
                frame.kind == "async"
                and "." not in session
                and gate.may_hold_session(frame, session)
            ):
                counts[id(frame)] = counts.get(id(frame), 0) + 1
                if counts[id(frame)] >= 2:
                    return True
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.asynchronous is None:
            return
        acquisitions = self._acquisitions(node)
        if len(acquisitions) < 2:
            return
        sessions = session_names(node, self.context)
        acquisitions = [a for a in acquisitions if a.lock.session in sessions]
        if len(acquisitions) < 2:
            return
        reported: set[int] = set()
        groups: dict[tuple[str | None, tuple[str, str]], list[_Acquisition]] = {}
        for item in acquisitions:
            groups.setdefault((item.lock.session, item.model), []).append(item)
        for group in groups.values():
            held = [group[0], *(a for a in group[1:] if self._held_together(group[0], a))]
            if len(held) >= 2 and not _sorted_keys(held, node) and not _same_key(held):
                self._report_same_model(node, held)
                reported.add(id(held[1]))
        graph = repo_lock_graph(self.context)
        for number, second in enumerate(acquisitions):
            if id(second) in reported:
                continue
            for first in acquisitions[:number]:
                if (
                    first.lock.session == second.lock.session
                    and first.model != second.model
                    and self._held_together(first, second)
                    and graph.breaks_order(first.model, second.model)
                ):
                    self._report_model_order(first, second)
                    reported.add(id(second))
                    break

    # -- collecting ------------------------------------------------------------------------

    def _acquisitions(self, func: cst.FunctionDef) -> list[_Acquisition]:
        found: list[_Acquisition] = []
        self._releases: list[_Release] = []
        default = self.context.module.default_indent
        events = [0]

        def visit(
            node: cst.CSTNode,
            path: tuple[int, ...],
            line: cst.SimpleStatementLine | None,
            block: cst.IndentedBlock | None,
            indent: str,
        ) -> None:
            if isinstance(node, SCOPE_NODES) and node is not func:
                return
            if isinstance(node, cst.Await) and (lock := row_lock(node)) is not None:
                model = model_node(lock.model, self.context)
                if model is not None:
                    events[0] += 1
                    found.append(_Acquisition(lock, model, path, line, block, indent, events[0]))
            elif isinstance(node, cst.Await) and (session := _released_session(node)):
                events[0] += 1
                self._releases.append(_Release(session, path, events[0]))
            if isinstance(node, cst.IndentedBlock):
                inner_indent = indent + (node.indent if node.indent is not None else default)
                for stmt in node.body:
                    inner = stmt if isinstance(stmt, cst.SimpleStatementLine) else None
                    visit(stmt, (*path, id(node)), inner, node, inner_indent)
                return
            for child in iter_children(node):
                if node is func and child is not func.body:
                    continue
                visit(child, path, line, block, indent)

        outer = "".join(
            (n.indent if n.indent is not None else default)
            for n in self.ancestors
            if isinstance(n, cst.IndentedBlock)
        )
        visit(func, (), None, None, outer)
        release_closure(visit)
        return found

    def _held_together(self, first: _Acquisition, second: _Acquisition) -> bool:
        """Whether ``first`` is surely still held when ``second`` is taken: it was taken
        in a block that contains ``second`` (not in another branch), and no commit or
        rollback of its session on the way between them ended the transaction."""
        if first is second or second.path[: len(first.path)] != first.path:
            return False
        return not any(
            first.order < release.order < second.order
            and release.session == first.lock.session
            and second.path[: len(release.path)] == release.path
            for release in self._releases
        )

    # -- same model ------------------------------------------------------------------------

    def _report_same_model(self, func: cst.FunctionDef, group: list[_Acquisition]) -> None:
        module = self.context.module
        model = module.code_for_node(group[0].lock.model)
        keys = ", ".join(
            module.code_for_node(a.lock.key) if a.lock.key is not None else "?" for a in group
        )
        message = (
            f"Row locks on `{model}` are taken in argument order ({keys}); two calls with "
            "the keys swapped deadlock. Lock rows in sorted key order"
        )
        self.report(group[1].lock.node, message, fix=self._sorted_fix(func, group))

    def _sorted_fix(self, func: cst.FunctionDef, group: list[_Acquisition]) -> Fix | None:
        block = group[0].block
        if block is None or any(a.block is not block or a.line is None for a in group):
            return None
        lines = [a.line for a in group]
        body = list(block.body)
        start = next(i for i, stmt in enumerate(body) if stmt is lines[0])
        if body[start : start + len(lines)] != lines or len({id(x) for x in lines}) != len(lines):
            return None  # code between the locks could observe their order
        targets: list[str] = []
        templates: dict[str, list[str]] = {}
        keys: list[cst.BaseExpression] = []
        loop_var = self.semantic.fresh_name("pk", "key", "row_key")
        module = self.context.module
        for acquisition in group:
            line, lock = acquisition.line, acquisition.lock
            assert line is not None
            if len(line.body) != 1 or not isinstance(line.body[0], cst.Assign):
                return None
            assign = line.body[0]
            if len(assign.targets) != 1 or not isinstance(assign.targets[0].target, cst.Name):
                return None
            key = lock.key
            if key is None or not _simple_key(key):
                return None
            bound = set(targets)
            if reads(key, bound) or reads(lock.model, bound) or (lock.session or "") in bound:
                return None  # a key read from an earlier row: the order is data-driven
            targets.append(assign.targets[0].target.value)
            keys.append(key)
            value = assign.value.deep_replace(key, cst.Name(loop_var))
            code = module.code_for_node(value)  # type: ignore[arg-type]
            templates.setdefault(_shape(code), []).append(code)
        if len(templates) != 1 or len(set(targets)) != len(targets):
            return None
        # The same call for every key; written as its most compact spelling.
        template = min(next(iter(templates.values())), key=lambda c: (c.count("\n"), len(c)))
        if any(reads(k, set(targets)) for k in keys):
            return None
        locked = self.semantic.fresh_name("locked", "locked_rows", "rows_by_key")
        key_codes = list(dict.fromkeys(module.code_for_node(k) for k in keys))
        indent = group[0].indent
        head = f"{locked} = {{{loop_var}: {template}"
        loop = f"for {loop_var} in sorted({{{', '.join(key_codes)}}})"
        one_line = f"{head} {loop}}}"
        if len(indent) + len(one_line) <= 99:
            text = one_line
        else:
            # Lines inside the braces get the block's indentation from libcst itself;
            # one more level in the block's own unit (tabs stay tabs).
            inner = block.indent if isinstance(block, cst.IndentedBlock) and block.indent else ""
            inner = inner or module.default_indent
            text = f"{locked} = {{\n{inner}{head[len(locked) + 4 :]}\n{inner}{loop}\n}}"
        lookups = ", ".join(f"{locked}[{module.code_for_node(k)}]" for k in keys)
        bind = f"{', '.join(targets)} = {lookups}"
        first, rest = lines[0], lines[1:]
        comments = [
            ln.trailing_whitespace.comment for ln in lines if ln.trailing_whitespace.comment
        ]
        lock_stmt = simple_statement(text, module)
        bind_stmt = simple_statement(bind, module)
        # Comments inside the replaced calls that the template does not carry go above.
        inner_comments = [
            c for ln in lines for small in ln.body for c in comments_in(small) if c not in text
        ]
        lock_stmt = lock_stmt.with_changes(
            leading_lines=[*first.leading_lines, *comment_lines(dict.fromkeys(inner_comments))]
        )
        bind_stmt = bind_stmt.with_changes(
            leading_lines=[ll for ln in rest for ll in ln.leading_lines],
            trailing_whitespace=cst.TrailingWhitespace(
                whitespace=cst.SimpleWhitespace("  ") if comments else cst.SimpleWhitespace(""),
                comment=cst.Comment("  ".join(c.value for c in comments)) if comments else None,
                newline=first.trailing_whitespace.newline,
            ),
        )
        replacements: list[tuple[cst.CSTNode, object]] = [
            (first, cst.FlattenSentinel([lock_stmt, bind_stmt]))
        ]
        replacements += [(ln, cst.RemovalSentinel.REMOVE) for ln in rest]
        return Fix(
            "Lock the rows in sorted key order",
            Applicability.SAFE,
            replacements=replacements,  # type: ignore[arg-type]
        )

    # -- different models --------------------------------------------------------------------

    def _report_model_order(self, first: _Acquisition, second: _Acquisition) -> None:
        message = (
            f"Row lock on `{second.model[1]}` taken while holding one on `{first.model[1]}`, "
            "against the repo's lock order; take the locks in that order everywhere"
        )
        self.report(second.lock.node, message, fix=self._swap_fix(first, second))

    def _swap_fix(self, first: _Acquisition, second: _Acquisition) -> Fix | None:
        block = first.block
        if block is None or second.block is not block or first.line is None:
            return None
        body = list(block.body)
        index = next(i for i, stmt in enumerate(body) if stmt is first.line)
        if index + 1 >= len(body) or body[index + 1] is not second.line or second.line is None:
            return None  # code between the locks could observe their order
        a, b = first.line, second.line
        bound_a = {n for s in a.body for n in bound_names(s)}
        bound_b = {n for s in b.body for n in bound_names(s)}
        if reads(b, bound_a) or reads(a, bound_b) or bound_a & bound_b:
            return None  # the second statement depends on the first
        return Fix(
            f"Lock `{second.model[1]}` first, as the lock order says",
            Applicability.SAFE,
            replacements=[
                (a, b.with_changes(leading_lines=a.leading_lines)),
                (b, a.with_changes(leading_lines=b.leading_lines)),
            ],
        )


def _released_session(node: cst.Await) -> str | None:
    call = node.expression
    if (
        isinstance(call, cst.Call)
        and isinstance(call.func, cst.Attribute)
        and call.func.attr.value in ("commit", "rollback")
    ):
        return dotted_name(call.func.value)
    return None


def _same_key(group: list[_Acquisition]) -> bool:
    """The same row every time (``get(M, pk)`` twice): one lock, no order to get wrong."""
    keys = [a.lock.key for a in group]
    if any(k is None for k in keys):
        return False
    return len({_shape(cst.Module([]).code_for_node(k)) for k in keys}) == 1  # type: ignore[arg-type]


def _simple_key(key: cst.BaseExpression) -> bool:
    """Keys the fix may evaluate twice: names, attribute chains, literals."""
    return dotted_name(key) is not None or isinstance(key, (cst.Integer, cst.SimpleString))


def _constant(key: cst.BaseExpression | None) -> int | str | None:
    if isinstance(key, cst.Integer):
        return int(key.value.replace("_", ""), 0)
    if isinstance(key, cst.SimpleString) and key.value[:1] in "'\"":
        return key.value[1:-1]
    return None


def _sorted_keys(group: list[_Acquisition], func: cst.FunctionDef) -> bool:
    """Keys that are constants in ascending order, or names unpacked from ``sorted(...)``
    (``low, high = sorted((a, b))``) or ``min(...), max(...)`` in that order."""
    keys = [a.lock.key for a in group]
    constants = [_constant(k) for k in keys]
    if all(c is not None for c in constants) and len({type(c) for c in constants}) == 1:
        return constants == sorted(constants)  # type: ignore[type-var]
    names = [k.value if isinstance(k, cst.Name) else None for k in keys]
    if None in names:
        return False
    for node in iter_descendants(func.body):
        if not (isinstance(node, cst.Assign) and len(node.targets) == 1):
            continue
        target = node.targets[0].target
        if not isinstance(target, (cst.Tuple, cst.List)):
            continue
        order = [dotted_name(e.value) for e in target.elements]
        value = node.value
        ordered = (
            isinstance(value, cst.Call) and dotted_name(value.func) == "sorted"
        ) or (
            isinstance(value, cst.Tuple)
            and [dotted_name(e.value.func) if isinstance(e.value, cst.Call) else None
                 for e in value.elements] == ["min", "max"]
        )  # fmt: skip
        if ordered and all(n in order for n in names):
            positions = [order.index(n) for n in names]
            if positions == sorted(positions):
                return True
    return False


def _shape(code: str) -> str:
    """The code's syntax tree, whitespace and layout aside."""
    try:
        return ast.dump(ast.parse(code.strip(), mode="eval"))
    except SyntaxError:
        return code
