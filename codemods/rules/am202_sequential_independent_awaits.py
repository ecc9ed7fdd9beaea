"""AM202 sequential-independent-awaits: independent network calls awaited one by one."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, ImportSpec, Rule
from asyncmend.codemods.edits.imports import asyncio_reference
from asyncmend.codemods.edits.indent import shift_continuations
from asyncmend.codemods.edits.statements import simple_statement
from asyncmend.codemods.semantic.paths import is_test_file
from asyncmend.codemods.semantic.sessions import session_names
from asyncmend.codemods.semantic.tree import dotted_name, reads

if TYPE_CHECKING:
    from asyncmend.engine.config import Config

#: Kinds of receiver that are never concurrency-safe, whatever the settings say.
_NEVER_SAFE = ("AsyncSession", "AsyncConnection", "Connection", "Session", "AsyncEngine")
_LINE_LENGTH = 88


@dataclass
class _Await:
    """``target = await callee(...)`` as one statement line."""

    line: cst.SimpleStatementLine
    target: str
    call: cst.Call


class SequentialIndependentAwaits(Rule):
    """
    ## What it does
    Finds consecutive awaits that do not depend on each other, of callees that are safe
    to run concurrently.

    That is: statements `a = await f(...)` then `b = await g(...)` where the second does
    not read what the first bound. The callees must be listed in the shared
    `concurrency-safe` setting (`"Class.method"` patterns, the class known by what the
    receiver was bound to, or dotted function names); by default methods of
    `httpx.AsyncClient` and `aiohttp.ClientSession` objects, and `asyncio.sleep`.

    ## Why is this bad?
    Each await waits for the previous one to finish, so independent network calls add
    their latencies up instead of overlapping. Running them with `asyncio.gather`
    costs only the slowest one.

    The fix is unsafe: running two requests concurrently changes their order on the
    wire, which matters when the server sees them as related (a write then a read).
    A session or connection is never a candidate (it is not safe for concurrent use),
    nor is a call given a session, nor a client that calls the app in-process (`app=`
    or `transport=ASGITransport(...)`: the requests share the app's one session or
    connection), nor are awaits with anything between them. Test files (`test_*.py`,
    `*_test.py`, `conftest.py`, anything under `tests/`) are skipped unless the rule's
    `include-tests` setting is true: tests await one step after another on purpose.

    ## Example
    ```python
    async def checkout_context(client: httpx.AsyncClient, customer_id: str) -> dict:
        methods = await client.get(f"/customers/{customer_id}/payment-methods")
        limits = await client.get(f"/customers/{customer_id}/limits")
        return {"methods": methods.json(), "limits": limits.json()}
    ```

    ## Use instead
    ```python
    async def checkout_context(client: httpx.AsyncClient, customer_id: str) -> dict:
        methods, limits = await asyncio.gather(
            client.get(f"/customers/{customer_id}/payment-methods"),
            client.get(f"/customers/{customer_id}/limits"),
        )
        return {"methods": methods.json(), "limits": limits.json()}
    ```
    """

    code = "AM202"
    name = "sequential-independent-awaits"
    fix_applicability = Applicability.UNSAFE
    triggers = (b"await",)
    requires = (b"async",)  # it reads only blocks of an `async def`
    settings_defaults: ClassVar[dict[str, Any]] = {"include-tests": False}

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        # Two adjacent `name = await call(...)` in one block of an `async def`, not in a
        # test module unless `include-tests` (the rule skips those first).
        if gate.config is not None and not gate.config.rule_settings(cls.code).get(
            "include-tests", False
        ):
            if is_test_file(gate.path, gate.module_name):
                return False
        if gate.config is None:
            return any(f.kind == "async" and f.adjacent_awaits for f in gate.frames)
        patterns = list(gate.config.rule_settings(cls.code).get("concurrency-safe", []))
        # Both awaits of the pair must be `_candidate`s: their callee may be listed as
        # concurrency-safe (by its name through the imports, or as `Kind.attribute`).
        return any(
            frame.kind == "async"
            and _may_be_safe(gate, frame, first, patterns)
            and _may_be_safe(gate, frame, second, patterns)
            for frame, first, second in gate.adjacent_awaits
        )

    @classmethod
    def tokens(cls, config: Config) -> tuple[bytes, ...]:
        """A file can only match a ``concurrency-safe`` pattern if it spells the class or
        function the pattern names: ``AsyncClient`` for ``httpx.AsyncClient.*``, ``sleep``
        for ``asyncio.sleep`` (a pattern with no literal part means every file)."""
        found: list[bytes] = []
        for pattern in config.settings.get("concurrency-safe", []):
            literal = _literal_part(pattern)
            if not literal:
                return cls.triggers
            found.append(literal.encode())
        return tuple(found) or cls.triggers  # () would mean "every file"

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        func = self.enclosing_function()
        if func is None or func.asynchronous is None:
            return
        # Tests await one step after the other on purpose, often through one client
        # over one connection: not findings unless `include-tests = true`.
        if not self.settings.get("include-tests", False) and self.semantic.in_test_file:
            return
        run: list[_Await] = []
        for statement in node.body:
            candidate = self._candidate(statement, func)
            if candidate is not None and run and _independent(candidate, run):
                run.append(candidate)
                continue
            self._flush(run, node)
            run = [candidate] if candidate is not None else []
        self._flush(run, node)

    # -- matching ----------------------------------------------------------------------

    def _candidate(self, statement: cst.BaseStatement, func: cst.FunctionDef) -> _Await | None:
        if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
            return None
        small = statement.body[0]
        if not isinstance(small, cst.Assign) or len(small.targets) != 1:
            return None
        target = small.targets[0].target
        if not isinstance(target, cst.Name) or not isinstance(small.value, cst.Await):
            return None
        call = small.value.expression
        if not isinstance(call, cst.Call) or small.value.lpar:
            return None
        if self._safe_callee(call, func) is None:
            return None
        if any(
            self.semantic.reads(arg.value, session_names(func, self.context)) for arg in call.args
        ):
            return None  # both would use one session: it is not safe for concurrent use
        return _Await(statement, target.value, call)

    def _safe_callee(self, call: cst.Call, func: cst.FunctionDef) -> str | None:
        """The qualified callee (``httpx.AsyncClient.get``) when the settings list it as
        concurrency-safe, else None."""
        patterns = list(self.settings.get("concurrency-safe", []))
        qualified: str | None = None
        receiver: str | None = None
        if isinstance(call.func, cst.Attribute):
            receiver = dotted_name(call.func.value)
            if receiver is not None:
                kind = self.semantic.binding_kind(receiver, self.ancestors)
                if self._in_process_client(receiver, func):
                    return None  # one app (and its one connection) behind the client
                if kind is not None and kind.rsplit(".", 1)[-1] not in _NEVER_SAFE:
                    qualified = f"{kind}.{call.func.attr.value}"
        if qualified is None:
            # A function reached through the module's imports: `asyncio.sleep`.
            qualified = self.semantic.resolve(call.func)
            if qualified is None or not self.semantic.resolves_to(
                call.func, frozenset({qualified}), self.ancestors
            ):
                return None
        if not qualified or not any(fnmatch.fnmatchcase(qualified, p) for p in patterns):
            return None
        if receiver is not None and receiver in session_names(func, self.context):
            return None  # a session is never concurrency-safe, whatever it was bound to
        return qualified

    def _in_process_client(self, receiver: str, func: cst.FunctionDef) -> bool:
        """A client made with ``app=`` or ``transport=ASGITransport(app)``: it calls the
        app in this process, whose session or connection the requests then share."""
        found = self.semantic.bindings(func).get(receiver) or self.semantic.bindings(
            self.semantic.module
        ).get(receiver, [])
        for binding in found:
            value = binding.value
            if isinstance(value, cst.Call) and any(
                arg.keyword is not None and arg.keyword.value in ("app", "transport")
                for arg in value.args
            ):
                return True
        with_items = (
            node
            for node in self.semantic.scope_statements(func.body)
            if isinstance(node, cst.WithItem)
            and node.asname is not None
            and isinstance(node.asname.name, cst.Name)
            and node.asname.name.value == receiver
        )
        return any(
            isinstance(item.item, cst.Call)
            and any(
                arg.keyword is not None and arg.keyword.value in ("app", "transport")
                for arg in item.item.args
            )
            for item in with_items
        )

    # -- reporting and fixing ----------------------------------------------------------

    def _flush(self, run: list[_Await], block: cst.IndentedBlock) -> None:
        if len(run) < 2:
            return
        names = ", ".join(f"`{item.target}`" for item in run)
        message = (
            f"The awaits binding {names} do not depend on each other but run one after "
            "the other; run them concurrently with `asyncio.gather`"
        )
        self.report(run[1].line, message, fix=self._fix(run, block))

    def _fix(self, run: list[_Await], block: cst.IndentedBlock) -> Fix | None:
        gather, imports = self._gather_callee()
        if gather is None:
            return None
        target = ", ".join(item.target for item in run)
        comments = [_trailing_comment(item.line) for item in run]
        leading = [line for item in run[1:] for line in item.line.leading_lines if line.comment]
        first = run[0].line
        indent = self._indent_width(block)
        codes = [cst.Module([]).code_for_node(item.call) for item in run]
        one_line = f"{target} = await {gather}({', '.join(codes)})"
        fits = indent + len(one_line) <= _LINE_LENGTH and all("\n" not in c for c in codes)
        if fits and not any(comments[1:]) and not leading:
            statement = simple_statement(one_line, self.context.module)
            statement = statement.with_changes(
                leading_lines=first.leading_lines, trailing_whitespace=first.trailing_whitespace
            )
        else:
            statement = self._multi_line(run, target, gather, comments)
        replacements: list[tuple[cst.CSTNode, object]] = [(first, statement)]
        replacements += [(item.line, cst.RemovalSentinel.REMOVE) for item in run[1:]]
        return Fix(
            f"Await them together with `{gather}`",
            Applicability.UNSAFE,
            replacements=replacements,  # type: ignore[arg-type]
            imports=imports,
        )

    def _multi_line(
        self, run: list[_Await], target: str, gather: str, comments: list[str | None]
    ) -> cst.SimpleStatementLine:
        """``a, b = await gather(`` / one call per line with its own comment / ``)``."""
        template = simple_statement(f"{target} = await {gather}()", self.context.module)
        assign = template.body[0]
        assert isinstance(assign, cst.Assign) and isinstance(assign.value, cst.Await)
        gather_call = assign.value.expression
        assert isinstance(gather_call, cst.Call)
        indent = self.context.module.default_indent

        def newline_then(
            comment: str | None, lines: list[cst.EmptyLine], last: bool
        ) -> cst.ParenthesizedWhitespace:
            return cst.ParenthesizedWhitespace(
                first_line=cst.TrailingWhitespace(
                    whitespace=cst.SimpleWhitespace("  " if comment else ""),
                    comment=cst.Comment(comment) if comment else None,
                ),
                empty_lines=[
                    cst.EmptyLine(
                        indent=True, whitespace=cst.SimpleWhitespace(indent), comment=c.comment
                    )
                    for c in lines
                ],
                indent=True,
                last_line=cst.SimpleWhitespace("" if last else indent),
            )

        args: list[cst.Arg] = []
        for position, item in enumerate(run):
            last = position == len(run) - 1
            following = (
                [] if last else [e for e in run[position + 1].line.leading_lines if e.comment]
            )
            args.append(
                cst.Arg(
                    shift_continuations(item.call, add=indent),
                    comma=cst.Comma(
                        whitespace_after=newline_then(comments[position], following, last)
                    ),
                )
            )
        gather_call = gather_call.with_changes(
            args=args, whitespace_before_args=newline_then(None, [], False)
        )
        new_assign = assign.with_changes(value=assign.value.with_changes(expression=gather_call))
        first = run[0].line
        return template.with_changes(
            body=[new_assign],
            leading_lines=first.leading_lines,
            trailing_whitespace=cst.TrailingWhitespace(newline=first.trailing_whitespace.newline),
        )

    def _gather_callee(self) -> tuple[str | None, list[ImportSpec]]:
        """How to spell ``asyncio.gather`` here, and the import that needs."""
        prefix, needs_import = asyncio_reference(self.semantic, self.ancestors)
        if prefix is not None:
            return f"{prefix}.gather", [ImportSpec("asyncio")] if needs_import else []
        for local, target in self.semantic.imports.items():
            if target == "asyncio.gather" and self.semantic.resolves_to(
                cst.Name(local), frozenset({"asyncio.gather"}), self.ancestors
            ):
                return local, []
        return None, []

    def _indent_width(self, block: cst.IndentedBlock) -> int:
        default = self.context.module.default_indent
        width = 0
        for node in [*self.ancestors, block]:
            if isinstance(node, cst.IndentedBlock):
                width += len((node.indent if node.indent is not None else default).expandtabs(8))
        return width


def _literal_part(pattern: str) -> str:
    """The longest run of plain characters in the last meaningful component of an
    fnmatch pattern (``httpx.AsyncClient.*`` -> ``AsyncClient``)."""
    parts = [p for p in pattern.split(".") if re.sub(r"[*?\[\]!]", "", p)]
    if not parts:
        return ""
    return max(re.split(r"[*?\[\]!]+", parts[-1]), key=len)


def _independent(candidate: _Await, run: list[_Await]) -> bool:
    """``candidate`` reads none of the names the run bound, and binds a new one."""
    bound = frozenset(item.target for item in run)
    return candidate.target not in bound and not reads(candidate.call, bound)


def _trailing_comment(line: cst.SimpleStatementLine) -> str | None:
    comment = line.trailing_whitespace.comment
    return comment.value if comment is not None else None


def _may_be_safe(
    gate: Rule.Gate,
    frame: Rule.Gate.Frame,
    callee: tuple[str | None, str | None, bool],
    patterns: list[str],
) -> bool:
    """``_safe_callee`` may accept a call of ``callee`` in ``frame``: its name resolved
    through any import matches a pattern, or (an attribute ``x.attr``) some kind the
    receiver may have (``receiver_kinds``; any kind when the gate cannot tell) makes a
    ``Kind.attr`` that matches one."""
    name, leaf, attribute = callee
    resolved = list(gate.qualified(name)) if name is not None else []
    kinds = None
    if attribute and name is not None and "." in name:
        kinds = gate.receiver_kinds(frame, name.rpartition(".")[0])
    return any(
        any(fnmatch.fnmatchcase(q, pattern) for q in resolved)
        or (
            attribute
            and leaf is not None
            and (
                _some_kind_matches(leaf, pattern)
                if kinds is None
                else any(fnmatch.fnmatchcase(f"{kind}.{leaf}", pattern) for kind in kinds)
            )
        )
        for pattern in patterns
    )


def _some_kind_matches(attribute: str, pattern: str) -> bool:
    """Some ``<kind>.<attribute>`` may match ``pattern``: its part after the last dot
    matches ``attribute`` (a pattern ends with literal text, which must end the name),
    or a wildcard or character class could span dots there."""
    _, dot, tail = pattern.rpartition(".")
    if not dot:
        return any(c in pattern for c in "*?[")
    if "[" in pattern or any(c in tail for c in "*?"):
        return True
    return attribute == tail
