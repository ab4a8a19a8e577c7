"""Train the main job's Korean→English translator for a fixed wall-clock budget, then summarise its test BLEU/chrF
and sample translations (issue 14 item 6: the GPU visit; it runs on CPU too, which is how it is tested).

    python benchmarks/gpu_translation.py --budget-s 270 --summary $OUT/translation.json \
        --artifacts $OUT/translation -- --preset transformer-base --tokenizer_name ... (tobigs-train-translation flags)

Everything after `--` goes to `tobigs_transformer.training.run_translation` unchanged. transformers' Trainer has no
time limit, so this wrapper adds one callback (`Trainer.add_callback` on every Trainer built) that stops training once
`--budget-s` seconds of training have passed; the script's own evaluation, test prediction and sample translations
then run as usual. Give `--max_steps` larger than the budget allows (the paper's schedule, `--lr_scheduler_type
noam`, does not depend on it). The summary JSON holds the metrics, the steps reached, and the samples; small
artifacts (metrics.json, loss_curve.png, generated_predictions.txt, trainer_state.json) are copied to
`--artifacts` (the model itself stays in `--output_dir`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

from transformers import TrainerCallback

ARTIFACTS = ("metrics.json", "loss_curve.png", "generated_predictions.txt", "trainer_state.json")
KEPT_METRICS = ("test_bleu", "test_chrf", "test_gen_len", "test_loss", "eval_bleu", "eval_chrf", "eval_loss",
                "eval_perplexity", "train_loss", "train_runtime", "train_samples_per_second", "epoch")


class TimeBudget(TrainerCallback):
    """Stops training at the first step end after `seconds` of training (`stopped_at_step` records where)."""

    def __init__(self, seconds: float):
        if seconds <= 0:
            raise ValueError(f"the training budget must be positive seconds, got {seconds}")
        self.seconds = seconds
        self.start: float | None = None
        self.stopped_at_step: int | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if self.start is not None and time.monotonic() - self.start >= self.seconds:
            control.should_training_stop = True
            self.stopped_at_step = state.global_step
        return control


def _output_dir(train_argv: list[str]) -> str:
    if "--output_dir" not in train_argv or train_argv.index("--output_dir") + 1 >= len(train_argv):
        raise ValueError("the training flags after `--` need --output_dir DIR (the summary is read from there)")
    return train_argv[train_argv.index("--output_dir") + 1]


def train_with_budget(train_argv: list[str], budget_s: float) -> tuple[dict, TimeBudget]:
    """`run_translation.main(train_argv)` with a `TimeBudget` callback on every Trainer it builds.

    The callback goes in through transformers' `Trainer.__init__` (then the public `add_callback`) rather than
    through the training package's own classes, so the wrapper keeps working while those are refactored."""
    import transformers
    from tobigs_transformer.training import run_translation

    budget = TimeBudget(budget_s)
    original = transformers.Trainer.__init__

    def init_with_budget(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.add_callback(budget)

    transformers.Trainer.__init__ = init_with_budget  # this process only; put back below
    try:
        metrics = run_translation.main(train_argv)
    finally:
        transformers.Trainer.__init__ = original
    return metrics, budget


def summarise(output_dir: str, budget: TimeBudget, wall_s: float, train_argv: list[str]) -> dict:
    with open(os.path.join(output_dir, "metrics.json"), encoding="utf-8") as f:
        saved = json.load(f)
    metrics = saved.get("metrics", {})
    steps = max((e.get("step", 0) for e in saved.get("log_history", [])), default=0)
    return dict(
        metrics={k: metrics[k] for k in KEPT_METRICS if k in metrics},
        steps=steps, budget_s=budget.seconds, stopped_by_budget=budget.stopped_at_step is not None,
        wall_s=round(wall_s, 1), samples=saved.get("samples", []), train_flags=train_argv,
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        raise ValueError("give the training flags after `--` (e.g. -- --preset transformer-base ...)")
    split = argv.index("--")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, required=True, help="seconds of training before it stops")
    parser.add_argument("--summary", required=True, help="where to write the summary JSON")
    parser.add_argument("--artifacts", default=None, help="folder for copies of the small run files")
    args = parser.parse_args(argv[:split])
    train_argv = argv[split + 1:]
    output_dir = _output_dir(train_argv)
    start = time.monotonic()
    _, budget = train_with_budget(train_argv, args.budget_s)
    summary = summarise(output_dir, budget, time.monotonic() - start, train_argv)
    os.makedirs(os.path.dirname(os.path.abspath(args.summary)), exist_ok=True)
    with open(args.summary, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1, ensure_ascii=False)
    if args.artifacts:
        os.makedirs(args.artifacts, exist_ok=True)
        for name in ARTIFACTS:
            if os.path.isfile(os.path.join(output_dir, name)):
                shutil.copy2(os.path.join(output_dir, name), os.path.join(args.artifacts, name))
    m = summary["metrics"]
    print(f"gpu_translation: {summary['steps']} steps in {summary['wall_s']} s; test BLEU {m.get('test_bleu')}, "
          f"chrF {m.get('test_chrf')}; validation BLEU {m.get('eval_bleu')}")
    for sample in summary["samples"]:
        print(f"  {sample['source']}  →  {sample['output']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
