"""The fault suite as a whole: enough rows, unique ids, and every row documented in docs/reliability.md."""

import importlib.util
import re
from pathlib import Path

import pytest

FAULT_DIR = Path(__file__).parent
DOC = FAULT_DIR.parents[1] / "docs" / "reliability.md"


def _tables() -> dict[str, list]:
    tables = {}
    for path in sorted(FAULT_DIR.glob("test_faults_*.py")):
        spec = importlib.util.spec_from_file_location(f"fault_table_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        tables[path.stem] = list(module.FAULTS)
    return tables


@pytest.fixture(scope="module")
def rows():
    return [row for table in _tables().values() for row in table]


def test_suite_has_at_least_80_distinct_cases(rows):
    ids = [row.id for row in rows]
    assert len(ids) >= 80, f"only {len(ids)} fault rows"
    assert len(set(ids)) == len(ids), sorted({i for i in ids if ids.count(i) > 1})


def test_every_row_names_what_it_guarantees(rows):
    for row in rows:
        assert row.needles, f"{row.id} checks no words of the message"
        assert row.guarantee.strip(), f"{row.id} states no guarantee"


def test_reliability_doc_lists_every_row(rows):
    documented = set(re.findall(r"^\|\s*`([^`]+)`", DOC.read_text(encoding="utf-8"), flags=re.M))
    missing = sorted(row.id for row in rows if row.id not in documented)
    stale = sorted(documented - {row.id for row in rows})
    assert not missing, f"docs/reliability.md does not list {missing}"
    assert not stale, f"docs/reliability.md lists rows that no longer exist: {stale}"
