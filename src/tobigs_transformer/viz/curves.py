"""Loss curves from the `trainer_state.json` that transformers' Trainer writes into every checkpoint folder (and,
with `save_state()`, into its output folder): `log_history` holds one dict per logging step with `step` and `loss`
(training) or `eval_loss` (evaluation), plus `learning_rate` and any other logged metric.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure

from .common import mark_panel, new_figure

STATE_FILE = "trainer_state.json"


def find_trainer_state(path: str | os.PathLike) -> Path:
    """`path` itself if it is a file, else `path/trainer_state.json`, else that of its latest `checkpoint-N`."""
    path = Path(path)
    if path.is_file():
        return path
    if (path / STATE_FILE).is_file():
        return path / STATE_FILE
    checkpoints = [p for p in path.glob("checkpoint-*") if (p / STATE_FILE).is_file()]
    if checkpoints:
        latest = max(checkpoints, key=lambda p: int(m.group(1)) if (m := re.search(r"(\d+)$", p.name)) else -1)
        return latest / STATE_FILE
    raise FileNotFoundError(f"no {STATE_FILE} in {path} or in a checkpoint-* folder below it")


@dataclass
class LogHistory:
    """Series read from a Trainer log: each is a list of (step, value)."""

    name: str
    train_loss: list[tuple[int, float]] = field(default_factory=list)
    eval_loss: list[tuple[int, float]] = field(default_factory=list)
    learning_rate: list[tuple[int, float]] = field(default_factory=list)
    eval_metrics: dict[str, list[tuple[int, float]]] = field(default_factory=dict)


def read_log_history(path: str | os.PathLike, name: str | None = None) -> LogHistory:
    """Parse `log_history` of a Trainer state file (or a run/checkpoint folder holding one)."""
    state_path = find_trainer_state(path)
    with open(state_path, encoding="utf-8") as handle:
        state = json.load(handle)
    if "log_history" not in state:
        raise ValueError(f"{state_path} has no log_history; is it a transformers Trainer state file?")
    folder = state_path.parent
    default_name = folder.parent.name if folder.name.startswith("checkpoint-") else folder.name
    history = LogHistory(name=name or default_name)
    for entry in state["log_history"]:
        step = entry.get("step")
        if step is None:
            continue
        if "loss" in entry:
            history.train_loss.append((int(step), float(entry["loss"])))
        if "learning_rate" in entry:
            history.learning_rate.append((int(step), float(entry["learning_rate"])))
        if "eval_loss" in entry:
            history.eval_loss.append((int(step), float(entry["eval_loss"])))
        for key, value in entry.items():
            if key.startswith("eval_") and key not in ("eval_loss", "eval_runtime", "eval_samples_per_second",
                                                       "eval_steps_per_second") and isinstance(value, (int, float)):
                history.eval_metrics.setdefault(key, []).append((int(step), float(value)))
    if not history.train_loss and not history.eval_loss:
        raise ValueError(f"{state_path} logs neither loss nor eval_loss; nothing to plot")
    return history


def plot_loss_curves(runs: list[LogHistory | str | os.PathLike], log_scale: bool = False,
                     show_learning_rate: bool | None = None) -> Figure:
    """Training loss (solid) and evaluation loss (dashed, dots) against the step for one or more runs, with the
    learning-rate schedule in a second panel when the logs have it."""
    histories = [run if isinstance(run, LogHistory) else read_log_history(run) for run in runs]
    if not histories:
        raise ValueError("no runs to plot")
    if show_learning_rate is None:
        show_learning_rate = any(h.learning_rate for h in histories)
    fig = new_figure(10.0 if show_learning_rate else 6.8, 4.2)
    columns = 2 if show_learning_rate else 1
    axes = fig.subplots(1, columns, squeeze=False, width_ratios=[1.6, 1.0][:columns])
    ax = mark_panel(axes[0, 0])
    for index, history in enumerate(histories):
        colour = f"C{index}"
        prefix = f"{history.name}: " if len(histories) > 1 else ""
        if history.train_loss:
            steps, values = zip(*history.train_loss)
            ax.plot(steps, values, color=colour, linewidth=1.3, label=f"{prefix}train loss")
        if history.eval_loss:
            steps, values = zip(*history.eval_loss)
            ax.plot(steps, values, color=colour, linestyle="--", marker="o", markersize=3.5,
                    label=f"{prefix}eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if log_scale:
        ax.set_yscale("log")
    ax.set_title("loss curves" + (f" — {histories[0].name}" if len(histories) == 1 else ""), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if show_learning_rate:
        ax = mark_panel(axes[0, 1])
        for index, history in enumerate(histories):
            if history.learning_rate:
                steps, values = zip(*history.learning_rate)
                ax.plot(steps, values, color=f"C{index}", label=history.name)
        ax.set_xlabel("step")
        ax.set_ylabel("learning rate")
        ax.set_title("learning-rate schedule", fontsize=10)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        ax.grid(alpha=0.3)
    return fig


__all__ = ["LogHistory", "find_trainer_state", "plot_loss_curves", "read_log_history"]
