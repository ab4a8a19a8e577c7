"""benchmarks/bench_activation_checkpointing.py at smoke sizes: every setting measured, the twin's memory probed in a
fresh process, the table printed and the JSON written (numbers are not checked: no timed tests)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tobigs_transformer.model.configuration_tobigs import ACTIVATION_CHECKPOINTING

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_activation_checkpointing.py"


@pytest.mark.slow
def test_smoke_run_measures_every_setting(tmp_path):
    out = tmp_path / "ac.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--family", "bart", "--profile", "smoke", "--repeats", "1",
                           "--warmup", "0", "--threads", "1", "--output", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert [r["setting"] for r in report["rows"]] == ["twin", *ACTIVATION_CHECKPOINTING]
    assert report["profile"] == "smoke" and report["shape"]["d_model"] == 32
    for row in report["rows"]:
        assert row["peak_mib"] is not None and row["peak_mib"] >= 0
        assert (row["step_ms"] is None) == (row["setting"] == "twin")
    assert "| layer |" in proc.stdout and f"wrote {out}" in proc.stdout
