#!/usr/bin/env python
"""Regenerate the README figures in docs/figures/ (small PNGs).

    .venv/bin/python scripts/make_figures.py                    # everything: 73 s on an idle 2-core CPU
    .venv/bin/python scripts/make_figures.py --skip-experiment  # only the toy-model, positional and softmax figures
    .venv/bin/python scripts/make_figures.py --experiment-results runs/rnn_vs_transformer/results.json  # redraw

The toy Korean->English model is trained into --work (default runs/make_figures) with the HF Trainer; its attention
maps, loss curves, the 10 x 10 positional encoding and the softmax-saturation figure are drawn from it, and the
experiment's four panels from its results.json (which is copied next to the figures).
"""

import argparse
import json
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_BYTES = 150_000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "figures"))
    parser.add_argument("--work", default=str(ROOT / "runs" / "make_figures"), help="scratch folder for runs")
    parser.add_argument("--dpi", type=int, default=80)
    parser.add_argument("--demo-steps", type=int, default=200)
    parser.add_argument("--skip-experiment", action="store_true")
    parser.add_argument("--experiment-results", help="draw the experiment figure from this results.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    from tobigs_transformer.experiments import rnn_vs_transformer as experiment
    from tobigs_transformer.viz import (
        compute_attention_maps,
        load_for_attention,
        plot_attention,
        plot_loss_curves,
        plot_positional_encoding,
        plot_softmax_saturation,
        save_figure,
        sinusoidal_encoding,
    )
    from tobigs_transformer.viz.demo import LECTURE_SOURCE, LECTURE_TARGET, train_toy_translator

    out, work = Path(args.out), Path(args.work)
    written = []

    def save(fig, name, dpi=None):
        written.append(save_figure(fig, out / name, dpi=dpi or args.dpi))

    save(plot_positional_encoding(sinusoidal_encoding(10, 10)), "positional_encoding_10x10.png")
    save(plot_softmax_saturation(), "softmax_saturation.png")

    model_dir = train_toy_translator(work / "toy-ko-en", max_steps=args.demo_steps)
    model, tokenizer = load_for_attention(model_dir)
    maps = compute_attention_maps(model, tokenizer, LECTURE_SOURCE, LECTURE_TARGET)
    last = maps.weights["cross"].shape[0] - 1
    save(plot_attention(maps, "cross", average_heads=True, title="cross-attention, toy Korean→English model"),
         "attention_cross.png", dpi=110)  # small files; Hangul needs the pixels
    save(plot_attention(maps, "cross", layers=[last], title=f"cross-attention per head, layer {last}"),
         "attention_cross_heads.png", dpi=110)
    save(plot_attention(maps, "masked", layers=[last], average_heads=True), "attention_masked.png", dpi=110)
    save(plot_attention(maps, "self", layers=[0], average_heads=True), "attention_self.png", dpi=110)
    save(plot_loss_curves([model_dir]), "loss_curves.png")

    if args.experiment_results or not args.skip_experiment:
        if args.experiment_results:
            results = json.loads(Path(args.experiment_results).read_text())
        else:
            results = experiment.run_experiment(experiment.ExperimentConfig())
            (work / "rnn_vs_transformer").mkdir(parents=True, exist_ok=True)
            (work / "rnn_vs_transformer" / "results.json").write_text(json.dumps(results, indent=2))
        fig = experiment.summary_figure(results, "RNN/LSTM encoder-decoders vs the Transformer (copy task)")
        save(fig, "rnn_vs_transformer.png", dpi=min(args.dpi, 72))  # four dense panels: keep it < 150 KB
        out.mkdir(parents=True, exist_ok=True)
        slim = {k: v for k, v in results.items() if k != "models"}
        slim["models"] = {name: {k: v for k, v in entry.items() if k != "train"} for name, entry in
                          results["models"].items()}
        (out / "rnn_vs_transformer.json").write_text(json.dumps(slim, indent=1))

    too_big = [p for p in written if p.stat().st_size > MAX_BYTES]
    for path in written:
        print(f"{path.stat().st_size // 1024:>4} KB  {path}")
    if too_big:
        print(f"larger than {MAX_BYTES // 1000} KB: {', '.join(map(str, too_big))}; lower --dpi", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
