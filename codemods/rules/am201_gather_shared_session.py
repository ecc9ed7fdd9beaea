"""AM201 gather-shared-session: ``asyncio.gather`` over coroutines that share one session."""

from __future__ import annotations

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, Rule
from asyncmend.codemods.edits.awaits import awaited_operand
from asyncmend.codemods.edits.comments import (
    argument_comments,
    whitespace_comments,
    with_comment_after_paren,
)
from asyncmend.codemods.edits.indent import continuation_offset, shift_continuations
from asyncmend.codemods.semantic.sessions import local_sessionmakers, session_names
from asyncmend.codemods.semantic.tree import (
    assigned_names,
    dotted_name,
    iter_descendants,
    line_of,
    reads,
)

GATHER = frozenset({"asyncio.gather", "asyncio.tasks.gather"})


class GatherSharedSession(Rule):
    """
    ## What it does
    Finds `asyncio.gather(...)` over coroutines that share one `AsyncSession`.

    Two or more of the gathered arguments call the session's methods
    (`session.execute(...)`) or receive it as an argument (`count_rows(session=session)`).

    ## Why is this bad?
    An `AsyncSession` is not safe for concurrent use: SQLAlchemy's documentation asks
    for one session per concurrent task. Interleaved operations on one session corrupt
    its state; with asyncpg they fail with "another operation is in progress". The
    gathered coroutines share one connection anyway, so nothing runs in parallel.

    The fix awaits the coroutines one after the other, in the same order, with the same
    results: `a, b = await gather(x, y)` becomes two assignments and an expression
    `await gather(x, y)` becomes `[await x, await y]`. With `return_exceptions=True`
    there is a finding but no fix. Passing a sessionmaker, so that each task opens its
    own session, is the right pattern and not a finding.

    ## Example
    ```python
    async def order_stats(session: AsyncSession, user_id: int) -> OrderStats:
        count, spent = await asyncio.gather(
            count_orders(session, user_id),
            total_spent(session, user_id),
        )
        return OrderStats(count=count, total_spent=spent)
    ```

    ## Use instead
    ```python
    async def order_stats(session: AsyncSession, user_id: int) -> OrderStats:
        count = await count_orders(session, user_id)
        spent = await total_spent(session, user_id)
        return OrderStats(count=count, total_spent=spent)
    ```
    """

    code = "AM201"
    name = "gather-shared-session"
    fix_applicability = Applicability.SAFE
    triggers = (b"gather",)
    uses_index = True

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        # `_shared_session` needs one name used by two of the gathered awaitables; a
        # gather imported under another name is not recorded there: any call then.
        if not gate.may_have_sessions:
            return False
        if gate.renames_leaf(frozenset({"gather"})):
            return gate.may_call(GATHER)
        # The shared name must be a plain one (`session_names` holds no dotted names)
        # that may hold a session in the gather's function or an enclosing one.
        return gate.may_call(
            GATHER,
            [
                site
                for site, shared in gate.shared_gathers
                if site.frame is not None
                and any(
                    "." not in name and gate.may_hold_session(site.frame, name) for name in shared
                )
            ],
        )

    def visit_Call(self, node: cst.Call) -> None:
        func_expr = node.func
        if isinstance(func_expr, cst.Attribute):
            if func_expr.attr.value != "gather":
                return
        elif (
            not isinstance(func_expr, cst.Name)
            or self.semantic.imports.get(func_expr.value) not in GATHER
        ):
            return  # cheap checks first: this runs for every call of the file
        if not self.semantic.resolves_to(func_expr, GATHER, self.ancestors):
            return
        func = self.enclosing_function()
        if func is None:
            return
        sessions = self._sessions(func)
        if not sessions:
            return
        shared = _shared_session(node, sessions)
        if shared is None:
            return
        message = (
            f"`{dotted_name(node.func)}` runs coroutines that share the session `{shared}` "
            "concurrently; an AsyncSession is not safe for concurrent use"
        )
        self.report(node, message, fix=self._fix(node))

    def _sessions(self, func: cst.FunctionDef) -> frozenset[str]:
        """Session names of the innermost function, plus those of enclosing functions
        that it does not rebind (closures)."""
        found = set(session_names(func, self.context))
        local = self.semantic.local_names(func)
        for outer in self.ancestors:
            if isinstance(outer, cst.FunctionDef) and outer is not func:
                found |= session_names(outer, self.context) - local
        # A configured name such as `session` that is a module's sessionmaker here: each
        # task opening its own session from it is the right pattern.
        found -= local_sessionmakers(self.context) - local
        return frozenset(found)

    # -- fixing ------------------------------------------------------------------------

    def _fix(self, call: cst.Call) -> Fix | None:
        if any(arg.keyword is not None for arg in call.args):
            if not all(_is_false_return_exceptions(arg) for arg in call.args if arg.keyword):
                return None  # return_exceptions=True: the results differ on failure
        args = [arg for arg in call.args if arg.keyword is None]
        parent = self.ancestors[-1]
        if not isinstance(parent, cst.Await) or parent.expression is not call:
            return None  # gather's future used some other way (stored, wrapped)
        if any(arg.star for arg in args):
            return self._starred_fix(parent, args)
        if not args:
            return None
        small = self.ancestors[-2] if len(self.ancestors) > 1 else None
        line = line_of(small, self.ancestors[:-2]) if small is not None else None
        assign = small if isinstance(small, cst.Assign) and small.value is parent else None
        if line is not None and assign is not None and len(assign.targets) == 1:
            targets = assign.targets[0].target
            if _separable(targets, args):
                return self._separate_fix(line, targets, args, call)  # type: ignore[arg-type]
        if line is not None and _is_expression_statement(line, parent):
            return self._separate_fix(line, None, args, call)
        # Keep each argument's comma, whitespace and comments; the last element takes the
        # call's closing layout (a dropped `return_exceptions=False` leaves none behind).
        closing = call.args[-1]
        elements = [
            cst.Element(
                awaited_operand(arg.value), comma=closing.comma if arg is args[-1] else arg.comma
            )
            for arg in args
        ]
        new = cst.List(
            elements,
            lbracket=cst.LeftSquareBracket(whitespace_after=call.whitespace_before_args),
            rbracket=cst.RightSquareBracket(whitespace_before=closing.whitespace_after_arg),
            lpar=parent.lpar,
            rpar=parent.rpar,
        )
        return Fix(
            "Await the coroutines one after the other",
            Applicability.SAFE,
            [(parent, new)],
            maybe_unused=self._gather_import(),
        )

    def _starred_fix(self, awaited: cst.Await, args: list[cst.Arg]) -> Fix | None:
        """``await gather(*(f(s, x) for x in xs))`` -> ``[await f(s, x) for x in xs]``."""
        if len(args) != 1 or args[0].star != "*":
            return None
        value = args[0].value
        if not isinstance(value, (cst.GeneratorExp, cst.ListComp)):
            return None
        comp = value.for_in
        if comp.asynchronous is not None:
            return None
        new = cst.ListComp(awaited_operand(value.elt), comp, lpar=awaited.lpar, rpar=awaited.rpar)
        return Fix(
            "Await the coroutines one after the other",
            Applicability.SAFE,
            [(awaited, new)],
            maybe_unused=self._gather_import(),
        )

    def _separate_fix(
        self,
        line: cst.SimpleStatementLine,
        targets: cst.Tuple | cst.List | None,
        args: list[cst.Arg],
        call: cst.Call,
    ) -> Fix:
        # A comment after `gather(` stays on that first line when the first call also
        # opens a parenthesis there: `a = await f(  # comment`.
        head_value = shift_continuations(
            args[0].value, remove=continuation_offset(call.whitespace_before_args)
        )
        head_comment = whitespace_comments(call.whitespace_before_args)[1]
        inline_head = bool(head_comment) and _opens_line(head_value)
        if inline_head:
            head_value = with_comment_after_paren(head_value, head_comment)  # type: ignore[arg-type]
        comments = argument_comments(
            call, args, line.trailing_whitespace.comment, skip_head=inline_head
        )
        statements: list[cst.SimpleStatementLine] = []
        for position, arg in enumerate(args):
            # The argument moves from its line inside `gather(...)` to the statement's
            # indentation: its own continuation lines move left as much.
            if position == 0:
                moved = head_value
            else:
                comma = args[position - 1].comma
                before = comma.whitespace_after if isinstance(comma, cst.Comma) else None
                moved = shift_continuations(arg.value, remove=continuation_offset(before))
            value: cst.BaseExpression = awaited_operand(moved)
            if targets is not None:
                target = targets.elements[position].value
                small: cst.BaseSmallStatement = cst.Assign(
                    [cst.AssignTarget(target.with_changes(lpar=[], rpar=[]))], value
                )
            else:
                small = cst.Expr(value)
            leading, comment = comments[position]
            statement = cst.SimpleStatementLine(
                [small],
                leading_lines=[*(line.leading_lines if position == 0 else []), *leading],
                trailing_whitespace=cst.TrailingWhitespace(
                    whitespace=cst.SimpleWhitespace("  " if comment else ""),
                    comment=cst.Comment(comment) if comment else None,
                    newline=line.trailing_whitespace.newline,
                ),
            )
            statements.append(statement)
        return Fix(
            "Await the coroutines one after the other",
            Applicability.SAFE,
            [(line, cst.FlattenSentinel(statements))],
            maybe_unused=self._gather_import(),
        )

    def _gather_import(self) -> list[str]:
        """The import names the fix may leave unused: ``asyncio`` or ``gather``."""
        return [
            local
            for local, target in self.semantic.imports.items()
            if target in ("asyncio", "asyncio.gather")
        ]


def _session_uses(expression: cst.BaseExpression, sessions: frozenset[str]) -> set[str]:
    """Sessions an argument of gather uses: as the receiver of a method call
    (``session.execute(q)``) or as an argument of a call (``count(session=session)``)."""
    used: set[str] = set()
    for node in iter_descendants(expression):
        if isinstance(node, (cst.Lambda, cst.FunctionDef)):
            continue
        if not isinstance(node, cst.Call):
            continue
        if isinstance(node.func, cst.Attribute):
            receiver = dotted_name(node.func.value)
            if receiver in sessions:
                used.add(receiver)  # type: ignore[arg-type]
        for arg in node.args:
            name = dotted_name(arg.value)
            if name in sessions:
                used.add(name)  # type: ignore[arg-type]
    return used


def _shared_session(call: cst.Call, sessions: frozenset[str]) -> str | None:
    """A session used by two or more of the gathered awaitables (a starred
    comprehension over calls that use it counts as several)."""
    seen: dict[str, int] = {}
    for arg in call.args:
        if arg.keyword is not None:
            continue
        uses = _session_uses(arg.value, sessions)
        weight = 2 if arg.star and isinstance(arg.value, _COMPREHENSIONS) else 1
        for name in uses:
            seen[name] = seen.get(name, 0) + weight
    shared = sorted(name for name, count in seen.items() if count >= 2)
    return shared[0] if shared else None


_COMPREHENSIONS = (cst.GeneratorExp, cst.ListComp, cst.SetComp)


def _is_false_return_exceptions(arg: cst.Arg) -> bool:
    return (
        arg.keyword is not None
        and arg.keyword.value == "return_exceptions"
        and isinstance(arg.value, cst.Name)
        and arg.value.value == "False"
    )


def _separable(target: cst.BaseExpression, args: list[cst.Arg]) -> bool:
    """``a, b = await gather(x, y)`` can become ``a = await x`` / ``b = await y`` when the
    targets are plain names, one per argument, and no later argument reads an earlier
    target (it would see the new value)."""
    if not isinstance(target, (cst.Tuple, cst.List)) or len(target.elements) != len(args):
        return False
    names: list[str] = []
    for element in target.elements:
        if not isinstance(element, cst.Element) or not isinstance(element.value, cst.Name):
            return False
        names.append(element.value.value)
    if len(set(names)) != len(names):
        return False
    for position, arg in enumerate(args):
        if reads(arg.value, frozenset(names[:position])):
            return False
    return not any(assigned_names(arg.value) for arg in args)


def _is_expression_statement(line: cst.SimpleStatementLine, awaited: cst.Await) -> bool:
    small = line.body[0]
    return isinstance(small, cst.Expr) and small.value is awaited and not awaited.lpar


def _opens_line(value: cst.BaseExpression) -> bool:
    """A call whose arguments start on the next line: ``f(`` ends its first line."""
    return (
        isinstance(value, cst.Call)
        and isinstance(value.whitespace_before_args, cst.ParenthesizedWhitespace)
        and value.whitespace_before_args.first_line.comment is None
    )
