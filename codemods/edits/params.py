"""Parameter edits: add a parameter to a function where Python (and FastAPI) accept it,
keeping the layout of the parameter list."""

from __future__ import annotations

import libcst as cst

from asyncmend.codemods.edits.arguments import append_one_per_line


def with_parameter(handler: cst.FunctionDef, name: str, annotation: str) -> cst.Parameters:
    """``handler``'s parameters plus ``name: annotation`` where Python and FastAPI accept
    it: keyword-only after a ``*``, else before the first parameter with a default, else
    last."""
    params = handler.params
    opening = handler.whitespace_before_params
    new = cst.Param(
        name=cst.Name(name),
        annotation=cst.Annotation(annotation=cst.parse_expression(annotation)),
    )
    if isinstance(params.star_arg, (cst.Param, cst.ParamStar)):
        kwonly = _append(list(params.kwonly_params), new, opening)
        return params.with_changes(kwonly_params=kwonly)
    positional = list(params.params)
    for position, param in enumerate(positional):
        if param.default is not None:
            positional.insert(position, new.with_changes(comma=_comma_like(param)))
            return params.with_changes(params=positional)
    if any(p.default is not None for p in params.posonly_params):
        # `def f(a=1, /)`: nothing without a default may follow; make it keyword-only.
        return params.with_changes(star_arg=cst.ParamStar(), kwonly_params=[new])
    return params.with_changes(params=_append(positional, new, opening))


def _comma_like(param: cst.Param) -> cst.Comma | cst.MaybeSentinel:
    """The comma after ``param`` (to reuse its line break), or a plain ``, ``."""
    if isinstance(param.comma, cst.Comma):
        return param.comma
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def _append(
    params: list[cst.Param], new: cst.Param, opening: cst.BaseParenthesizableWhitespace
) -> list[cst.Param]:
    """Append keeping the layout: with a magic trailing comma (one parameter per line)
    the new one gets its own line and the trailing comma."""
    if not params:
        return [new]
    found = append_one_per_line(params, new, opening)
    if found is not None:
        return found
    last = params[-1]
    # The line break before the closing parenthesis moves after the new parameter.
    params[-1] = last.with_changes(whitespace_after_param=cst.SimpleWhitespace(""))
    return [*params, new.with_changes(whitespace_after_param=last.whitespace_after_param)]
