"""AM001 unused-suppression: a ``# noqa: AMxxx`` / ``# asyncmend: ignore[...]`` that
suppresses nothing.

The rule needs every other rule's findings on the file, so the engine computes it after
the rules ran (``asyncmend.engine.suppression``); this class declares it, so that it is
listed, documented, selected and ignored like any rule.
"""

from __future__ import annotations

from typing import ClassVar

from asyncmend.codemods.base import Applicability, Rule


class UnusedSuppression(Rule):
    """
    ## What it does
    Finds suppression comments that suppress nothing: a code in `# noqa: AM101` or
    `# asyncmend: ignore[AM101]` with no AM101 finding on that line, or a bare
    `# asyncmend: ignore` on a line without findings.

    ## Why is this bad?
    A suppression outlives the code it was written for: once the finding is fixed or
    the line changes, the comment stays and hides the next real problem on that line.
    Stale suppressions also tell readers that something is wrong where nothing is.

    Only codes of rules selected for the file count: codes of other tools (`E501`,
    `F401`) and of rules switched off are left alone, and so is a bare `# noqa`, which
    may serve another tool. The fix removes the unused codes, or the whole directive
    when none remains (the rest of the comment stays).

    ## Example
    ```python
    async def handler(session: AsyncSession) -> None:
        await session.commit()  # noqa: AM101, E501
    ```

    ## Use instead
    ```python
    async def handler(session: AsyncSession) -> None:
        await session.commit()  # noqa: E501
    ```
    """

    code = "AM001"
    name = "unused-suppression"
    fix_applicability = Applicability.SAFE
    # Any spelling of a directive holds one of these (noqa is case-insensitive).
    triggers: ClassVar[tuple[bytes, ...]] = (b"noqa", b"NOQA", b"NoQA", b"Noqa", b"asyncmend")

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        return gate.directives_may_name(gate.selected_codes)
