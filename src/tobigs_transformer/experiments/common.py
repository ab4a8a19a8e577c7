"""What the experiments share: reaching the training commands by name, recording the machine, summarising seeds, and
writing the results after every run."""

from __future__ import annotations

import importlib
import json
import os
import platform
import statistics
import subprocess
from collections.abc import Callable, Sequence

from ..tooling.commands import execute
from ..tooling.main import find


def tobigs(words: str, argv: list[str]) -> dict:
    """``tobigs WORDS ARGV`` in this process, its metrics returned; the training commands are reached by name through
    the front door, as the layering wants (experiments and training are peers)."""
    entry, _ = find(words.split())
    module, attribute = entry.target.split(":")
    return execute(getattr(importlib.import_module(module), attribute), argv)


def machine() -> dict[str, str]:
    """CPU model (lscpu), load (uptime), torch threads, versions."""
    import torch
    import transformers

    def command(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "unavailable"

    model = next((line.split(":", 1)[1].strip() for line in command("lscpu").splitlines()
                  if line.startswith("Model name")), platform.processor())
    return {"cpu": model, "cpus": str(os.cpu_count()), "uptime": command("uptime"),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "threads": str(torch.get_num_threads()), "python": platform.python_version()}


def spread(values: Sequence[float]) -> dict[str, float]:
    """Over seeds: their count, mean, sample standard deviation (0 for one seed) and range."""
    return {"seeds": len(values), "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0, "min": min(values), "max": max(values)}


def write_results(output_dir: str, results: dict, report: Callable[[dict], str]) -> None:
    """``results.json`` and ``results.md`` (``report(results)``) into ``output_dir``."""
    with open(os.path.join(output_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    with open(os.path.join(output_dir, "results.md"), "w", encoding="utf-8") as f:
        f.write(report(results))
