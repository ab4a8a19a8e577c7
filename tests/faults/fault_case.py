"""One row of the fault suite: an action that must fail early, the exception type it must raise, and the words its
message must contain (the bad value and the limit, or the file and line), plus the guarantee the row stands for.

Every `tests/faults/test_faults_*.py` module declares a table of `Fault` rows and checks each with `check`;
`docs/reliability.md` lists every row by its id (a test keeps the two in step)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pytest


@dataclass(frozen=True)
class Fault:
    id: str
    action: Callable[[], object]
    error: type[BaseException] | tuple[type[BaseException], ...]
    needles: tuple[str, ...]
    guarantee: str
    marks: tuple = field(default=())


def check(fault: Fault) -> None:
    """Run the action; it must raise `fault.error` whose message contains every needle."""
    with pytest.raises(fault.error) as info:
        fault.action()
    message = str(info.value)
    missing = [needle for needle in fault.needles if needle not in message]
    if missing:
        pytest.fail(f"{fault.id}: message {message!r} does not name {missing}")


def params(faults: list[Fault]) -> list:
    """`pytest.param`s of a table, one id per row (ids must be unique across the suite)."""
    ids = [f.id for f in faults]
    duplicated = {i for i in ids if ids.count(i) > 1}
    if duplicated:
        raise ValueError(f"duplicate fault ids: {sorted(duplicated)}")
    return [pytest.param(f, id=f.id, marks=f.marks) for f in faults]
