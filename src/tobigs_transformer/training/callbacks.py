"""Artefacts written next to every checkpoint and the final model: ``metrics.json`` and ``loss_curve.png``.

``metrics.json`` holds the latest train/eval metrics (with ``*_perplexity = exp(*_loss)`` for language models), the
full log history and whatever the script adds (samples, BLEU, ...).  ``loss_curve.png`` plots training and
evaluation loss against the step (and the learning rate below).

With :class:`~.trainers.TobigsTrainer` the artefacts are written into each checkpoint just before its completion
marker (``checkpoint_complete.json``, a sha256 manifest of the folder), so they are covered by it; the marker,
rotation order and resume verification live in :mod:`.checkpoints`.  With a plain ``transformers.Trainer`` the
callback writes artefacts and marker in ``on_save``, i.e. after transformers' own rotation.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from transformers import TrainerCallback

from .checkpoints import COMPLETE_MARKER, is_complete_checkpoint, last_good_checkpoint, mark_complete
from .trainers import perplexity


METRICS_FILE = "metrics.json"
PLOT_FILE = "loss_curve.png"


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def summarise_log_history(log_history: list[dict]) -> dict[str, Any]:
    """Latest value of every logged metric (train loss as ``train_loss_last``), with perplexities added."""
    latest: dict[str, Any] = {}
    for entry in log_history:
        for key, value in entry.items():
            if key == "loss":
                latest["train_loss_last"] = value
            elif key not in ("step", "epoch"):
                latest[key] = value
        if "step" in entry:
            latest["step"] = entry["step"]
        if "epoch" in entry:
            latest["epoch"] = entry["epoch"]
    return latest


def write_metrics_json(directory: str, metrics: dict[str, Any], log_history: list[dict] | None = None,
                       lm: bool = False, extra: dict[str, Any] | None = None) -> str:
    """Write ``directory/metrics.json`` atomically; ``lm=True`` adds ``*_perplexity`` for every ``*_loss``."""
    metrics = dict(metrics)
    if lm:
        for key in [k for k in metrics if k.endswith("_loss") or k == "train_loss_last"]:
            name = key[: -len("_loss")] if key.endswith("_loss") else "train_last"
            metrics.setdefault(f"{name}_perplexity", perplexity(metrics[key]))
    payload = {"metrics": metrics}
    if extra:
        payload.update(extra)
    if log_history is not None:
        payload["log_history"] = log_history
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, METRICS_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(_jsonable(payload), f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)
    return path


def plot_loss_curve(log_history: list[dict], path: str, title: str | None = None) -> str | None:
    """Training/evaluation loss (top) and learning rate (bottom) against the step; None if nothing was logged."""
    train = [(e["step"], e["loss"]) for e in log_history if "loss" in e and "step" in e]
    evals = [(e["step"], e["eval_loss"]) for e in log_history if "eval_loss" in e and "step" in e]
    lrs = [(e["step"], e["learning_rate"]) for e in log_history if "learning_rate" in e and "step" in e]
    if not train and not evals:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_lr) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, height_ratios=(3, 1))
    if train:
        ax_loss.plot(*zip(*train), label="train loss", lw=1.2)
    if evals:
        ax_loss.plot(*zip(*evals), "o-", label="eval loss", lw=1.5)
    ax_loss.set_ylabel("loss")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend()
    if title:
        ax_loss.set_title(title)
    if lrs:
        ax_lr.plot(*zip(*lrs), color="tab:green", lw=1.2)
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("step")
    ax_lr.grid(alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path


class RunArtifactsCallback(TrainerCallback):
    """``metrics.json`` + ``loss_curve.png`` in every checkpoint, written before its completion marker."""

    def __init__(self, lm: bool = False, plot: bool = True, title: str | None = None):
        self.lm = lm
        self.plot = plot
        self.title = title

    def write_checkpoint_files(self, folder: str, args, state) -> None:
        """Called by TobigsTrainer between transformers' save and the completion marker."""
        write_metrics_json(folder, summarise_log_history(state.log_history), state.log_history, lm=self.lm)
        if self.plot:
            plot_loss_curve(state.log_history, os.path.join(folder, PLOT_FILE), self.title)

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if not os.path.isdir(folder) or is_complete_checkpoint(folder):
            return  # TobigsTrainer already wrote artefacts and marker
        self.write_checkpoint_files(folder, args, state)
        mark_complete(folder, state.global_step)


__all__ = [
    "COMPLETE_MARKER",
    "METRICS_FILE",
    "PLOT_FILE",
    "RunArtifactsCallback",
    "is_complete_checkpoint",
    "last_good_checkpoint",
    "plot_loss_curve",
    "summarise_log_history",
    "write_metrics_json",
]
