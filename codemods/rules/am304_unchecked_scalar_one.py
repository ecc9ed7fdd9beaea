"""AM304 unchecked-scalar-one: a lookup by id in a route handler that 500s on a miss."""

from __future__ import annotations

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, ImportSpec, Rule
from asyncmend.codemods.edits.imports import class_reference
from asyncmend.codemods.edits.statements import statement
from asyncmend.codemods.facts.transactions import no_result_handlers
from asyncmend.codemods.semantic.exceptions import catches_database_errors, guarding_tries
from asyncmend.codemods.semantic.fastapi import ROUTE_METHODS, is_route_handler
from asyncmend.codemods.semantic.flow import execute_source, first_arg, flow_of, resolve_query
from asyncmend.codemods.semantic.queries import entity_of, looks_up_by_id, returns_one_row
from asyncmend.codemods.semantic.tree import line_of

#: Where FastAPI's HTTPException may come from (the fix reuses such a binding).
HTTP_EXCEPTIONS = frozenset(
    {
        "fastapi.HTTPException",
        "fastapi.exceptions.HTTPException",
        "starlette.exceptions.HTTPException",
    }
)
#: Builtin bases of ``NoResultFound`` a handler may name instead.
NO_RESULT_BASES = frozenset({"LookupError"})


class UncheckedScalarOne(Rule):
    """
    ## What it does
    Finds, in a FastAPI route handler, a lookup by id (`select(M).where(M.id == x)`,
    `filter_by(id=x)`, a `*_id` column) executed through the session and ending in
    `.scalar_one()`.

    ## Why is this bad?
    `scalar_one()` raises `NoResultFound` when the row does not exist. In a route
    handler an id comes from the client, so a missing row is an ordinary request, but
    the exception surfaces as a 500 Internal Server Error (and an error report) instead
    of a 404.

    The fix uses `scalar_one_or_none()` and raises `HTTPException(status_code=404)` when
    the result is `None` (adding `from fastapi import HTTPException` when needed). It is
    unsafe because it changes the response. There is no fix when the value is not
    assigned to a name, when the query selects a column (a `None` could then be a NULL
    value of an existing row), or when `HTTPException` names something else in the
    module. Lookups inside a `try` that handles `NoResultFound` are not reported, nor
    any when the app registers an exception handler for `NoResultFound` (repo index),
    nor a query of aggregates only (`select(func.count(...))`, `func.max`, `exists()`,
    with no `group_by`/`having`/`offset`): it always has exactly one row.

    Status: stable by default; it had no finding on the ecosystem corpus (no measured
    precision).

    ## Example
    ```python
    @router.get("/orders/{order_id}")
    async def get_order(order_id: int, session: SessionDep) -> Order:
        result = await session.execute(select(Order).where(Order.id == order_id))
        order = result.scalar_one()
        return order
    ```

    ## Use instead
    ```python
    @router.get("/orders/{order_id}")
    async def get_order(order_id: int, session: SessionDep) -> Order:
        result = await session.execute(select(Order).where(Order.id == order_id))
        order = result.scalar_one_or_none()
        if order is None:
            raise HTTPException(status_code=404, detail="Order not found")
        return order
    ```
    """

    code = "AM304"
    name = "unchecked-scalar-one"
    fix_applicability = Applicability.UNSAFE
    triggers = (b"scalar_one()",)

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        # A `.scalar_one()` whose innermost function (no lambda) may be a route handler
        # (a decorator ending in a route method), unless the app handles NoResultFound.
        if gate.index is not None and gate.index.repo_has("no_result_handlers"):
            return False

        def handler(frame: Rule.Gate.Frame | None) -> bool:
            return frame is not None and not ROUTE_METHODS.isdisjoint(frame.decorators)

        return any(
            c.leaf == "scalar_one"
            and c.attribute
            and not c.nargs
            and c.frame is not None
            and c.frame.kind != "lambda"
            and (handler(c.frame) or (c.in_header and handler(c.frame.parent)))
            for c in gate.calls
        )

    uses_index = True

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "scalar_one") or node.args:
            return
        handler = self.enclosing_function()
        if handler is None or not is_route_handler(handler, self.context):
            return
        if self._app_handles_no_result():
            return
        flow = flow_of(handler, self.context, self.ancestors)
        site = flow.site_of(node)
        if site is None:
            return
        source = execute_source(flow, func.value, site)
        if source is None or source[1]:
            return
        call = source[0]
        query = resolve_query(flow, first_arg(call.call), call.site)
        if query is None or not looks_up_by_id(query) or self._handles_no_result():
            return
        if returns_one_row(query, self.semantic):
            return
        model = entity_of(query)
        label = (model or "row").rsplit(".", 1)[-1]
        message = (
            f"`.scalar_one()` on a lookup by id in a route handler: a missing {label} raises "
            "`NoResultFound`, answered as a 500; use `scalar_one_or_none()` and a 404"
        )
        exception, needs_import = class_reference(
            self.semantic, "HTTPException", HTTP_EXCEPTIONS, self.ancestors
        )
        line = self._assignment_line(node)
        if model is None:
            reason = "the query selects a column, so `None` may be a NULL value"
        elif exception is None:
            reason = "`HTTPException` names something else here"
        elif line is None:
            reason = "the value is not assigned to a plain name on a line of its own"
        else:
            fix = self._fix(node, line, label, exception)
            if needs_import:
                fix.imports.append(ImportSpec("fastapi", "HTTPException"))
            self.report(node, message, fix=fix)
            return
        self.report(node, f"{message} (no automatic fix: {reason})")

    def _app_handles_no_result(self) -> bool:
        """Some module of the repo registers an exception handler for ``NoResultFound``
        (pass-1 fact ``no_result_handlers``): a miss is then answered as the app says."""
        return self.semantic.cached(
            "app_handles_no_result",
            lambda: any(no_result_handlers.of(f) for f in self.context.index.by_path.values()),
        )

    def _handles_no_result(self) -> bool:
        """Inside the body of a ``try`` whose handler catches ``NoResultFound`` (or a
        base of it: ``Exception``, ``SQLAlchemyError``... or a bare ``except``)."""
        return any(
            catches_database_errors(handler, self.semantic, also=NO_RESULT_BASES)
            for node in guarding_tries(self.ancestors)
            for handler in node.handlers
        )

    def _assignment_line(self, node: cst.Call) -> cst.SimpleStatementLine | None:
        """The ``x = ....scalar_one()`` line (alone on its line, in an indented block)."""
        assign = self.ancestors[-1]
        if not (
            isinstance(assign, cst.Assign)
            and assign.value is node
            and len(assign.targets) == 1
            and isinstance(assign.targets[0].target, cst.Name)
        ):
            return None
        return line_of(assign, self.ancestors[:-1])

    def _fix(self, node: cst.Call, line: cst.SimpleStatementLine, label: str, raised: str) -> Fix:
        assign = line.body[0]
        assert isinstance(assign, cst.Assign)
        target = assign.targets[0].target
        assert isinstance(target, cst.Name)
        func = node.func
        assert isinstance(func, cst.Attribute)
        new_call = node.with_changes(func=func.with_changes(attr=cst.Name("scalar_one_or_none")))
        new_line = line.with_changes(body=[assign.with_changes(value=new_call)])
        check = statement(
            f"if {target.value} is None:\n"
            f'    raise {raised}(status_code=404, detail="{label} not found")',
            self.context.module,
        )
        return Fix(
            message=f"Use `scalar_one_or_none()` and raise a 404 when `{target.value}` is None",
            applicability=Applicability.UNSAFE,
            replacements=[(line, cst.FlattenSentinel([new_line, check]))],
        )
