"""What a SQLAlchemy statement expression is: the chain of its method calls, the entity it
selects, whether it writes, what its criteria compare."""

from __future__ import annotations

import libcst as cst

from asyncmend.codemods.semantic.tree import dotted_name, iter_descendants

#: SQL statement constructors that write.
WRITE_STATEMENTS = frozenset({"insert", "update", "delete", "upsert"})
WRITE_SQL = ("insert", "update", "delete", "merge", "replace", "upsert")
#: Methods that add criteria to a statement.
CRITERIA_METHODS = frozenset({"where", "filter"})


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
