"""What a SQLAlchemy statement expression is: the chain of its method calls, the entity it
selects, whether it writes, what its criteria compare, whether it returns one row."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from asyncmend.codemods.semantic.tree import dotted_name, iter_descendants

if TYPE_CHECKING:
    from asyncmend.codemods.semantic.model import SemanticModel

#: SQL statement constructors that write.
WRITE_STATEMENTS = frozenset({"insert", "update", "delete", "upsert"})
WRITE_SQL = ("insert", "update", "delete", "merge", "replace", "upsert")
#: Methods that add criteria to a statement.
CRITERIA_METHODS = frozenset({"where", "filter"})
#: SQL aggregate functions: without GROUP BY a query of them returns exactly one row.
AGGREGATES = frozenset(
    {
        "count", "sum", "max", "min", "avg", "array_agg", "string_agg", "group_concat",
        "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg", "bool_and",
        "bool_or", "every", "stddev", "stddev_pop", "stddev_samp", "variance",
        "var_pop", "var_samp", "bit_and", "bit_or", "percentile_cont", "percentile_disc",
        "mode", "aggregate_strings",
    }
)  # fmt: skip
EXISTS = frozenset(
    {"sqlalchemy.exists", "sqlalchemy.sql.exists", "sqlalchemy.sql.expression.exists"}
)
#: Statement methods that keep a one-row aggregate query at one row.
ONE_ROW_METHODS = frozenset(
    {
        "where", "filter", "filter_by", "select_from", "join", "outerjoin", "join_from",
        "outerjoin_from", "order_by", "execution_options", "options", "params", "correlate",
        "limit", "with_hint", "add_cte",
    }
)  # fmt: skip


def method_name(call: cst.Call) -> str:
    """``"where"`` for ``q.where(...)``; ``""`` for a call of a plain name."""
    return call.func.attr.value if isinstance(call.func, cst.Attribute) else ""


def method_chain(expr: cst.BaseExpression) -> list[cst.Call]:
    """The calls of a method chain, outermost first: ``select(M).where(...).limit(1)``
    gives the ``limit``, ``where`` and ``select`` calls."""
    calls: list[cst.Call] = []
    current: cst.BaseExpression = expr
    while isinstance(current, cst.Call):
        calls.append(current)
        if isinstance(current.func, cst.Attribute):
            current = current.func.value
        else:
            break
    return calls


def select_of(query: cst.BaseExpression | None) -> cst.Call | None:
    """The ``select(...)`` call a statement chain starts from."""
    if query is None:
        return None
    chain = method_chain(query)
    if chain and (dotted_name(chain[-1].func) or "").rsplit(".", 1)[-1] == "select":
        return chain[-1]
    return None


def entity_of(query: cst.BaseExpression | None) -> str | None:
    """``M`` when ``query`` is ``select(M)...`` of one mapped class (a name that looks like
    a class: capitalised), not of columns or functions."""
    select = select_of(query)
    if select is None or len(select.args) != 1 or select.args[0].keyword is not None:
        return None
    name = dotted_name(select.args[0].value)
    if name is None or not name.rsplit(".", 1)[-1][:1].isupper():
        return None
    return name


def is_write_statement(query: cst.BaseExpression | None) -> bool:
    """``insert(M)...``, ``update(M)...``, ``delete(M)...`` or ``text("UPDATE ...")``."""
    if query is None:
        return False
    chain = method_chain(query)
    if not chain:
        return False
    root = (dotted_name(chain[-1].func) or "").rsplit(".", 1)[-1]
    if root in WRITE_STATEMENTS:
        return True
    if root == "text" and chain[-1].args:
        value = chain[-1].args[0].value
        if isinstance(value, cst.SimpleString):
            sql = value.evaluated_value
            return isinstance(sql, str) and sql.lstrip().lower().startswith(WRITE_SQL)
    return False


def looks_up_by_id(query: cst.BaseExpression) -> bool:
    """The query's criteria compare an id column for equality: ``M.id == x``,
    ``M.order_id == x``, ``filter_by(id=x)``."""
    for call in method_chain(query):
        method = method_name(call)
        if method == "filter_by":
            if any(arg.keyword is not None and _is_id(arg.keyword.value) for arg in call.args):
                return True
        elif method in CRITERIA_METHODS:
            for arg in call.args:
                for node in iter_descendants(arg.value):
                    if _is_id_equality(node):
                        return True
    return False


def _is_id(name: str) -> bool:
    return name in ("id", "pk", "uuid") or name.endswith(("_id", "_uuid"))


def _is_id_equality(node: cst.CSTNode) -> bool:
    if not isinstance(node, cst.Comparison) or len(node.comparisons) != 1:
        return False
    target = node.comparisons[0]
    if not isinstance(target.operator, cst.Equal):
        return False
    for side in (node.left, target.comparator):
        if isinstance(side, cst.Attribute) and _is_id(side.attr.value) and dotted_name(side.value):
            return True
    return False


def returns_one_row(query: cst.BaseExpression, semantic: SemanticModel) -> bool:
    """``select(func.count(...))...``: every selected column is an aggregate (or an
    ``exists()``) and nothing groups, filters groups or skips rows, so the result has
    exactly one row, found or not."""
    select = select_of(query)
    if select is None or not select.args:
        return False
    for arg in select.args:
        if arg.keyword is not None or arg.star or not isinstance(arg.value, cst.Call):
            return False
        name = semantic.resolve(arg.value.func) or ""
        module, _, function = name.rpartition(".")
        if module.rsplit(".", 1)[-1] == "func" or module == "sqlalchemy.sql.functions":
            if function not in AGGREGATES:
                return False
        elif name not in EXISTS:
            return False
    for call in method_chain(query)[:-1]:
        method = method_name(call)
        if method not in ONE_ROW_METHODS:
            return False
        if method == "limit" and not (
            call.args
            and isinstance(call.args[0].value, cst.Integer)
            and int(call.args[0].value.value) >= 1
        ):
            return False
    return True
