"""`tobigs-viz`: write the lecture's pictures as PNG files.

    tobigs-viz attention MODEL_DIR --text "투빅아, 나는 너를 많이 사랑해." --target "Tobigs, I love you so much." --out figs
    tobigs-viz positional --positions 10 --dim 10 [--model MODEL_DIR] --out figs
    tobigs-viz softmax --out figs
    tobigs-viz curves RUN_DIR [RUN_DIR ...] --out figs/loss.png
    tobigs-viz demo --out runs/toy-ko-en        (trains a toy Korean->English model, then draws all of the above)
    tobigs-viz experiment --out runs/rnn_vs_transformer [--quick]     (RNN/LSTM vs Transformer, see experiments/)

Exit status 2 with a one-line message for a bad option or bad input (missing files, a model without an eager
attention path, ...), 1 for any other failure (``TOBIGS_DEBUG=1`` adds the traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ..tooling.cli import one_line, run_cli

logger = logging.getLogger("tobigs_transformer.viz")
PROG = "tobigs-viz"


def _int_list(text: str) -> list[int]:
    return [int(x) for x in text.replace(",", " ").split()]


def cmd_attention(args: argparse.Namespace) -> list[Path]:
    from .attention_maps import compute_attention_maps, load_for_attention, save_attention_figures

    model, tokenizer = load_for_attention(args.model, args.tokenizer)
    maps = compute_attention_maps(model, tokenizer, args.text, args.target, max_new_tokens=args.max_new_tokens)
    kinds = maps.kinds if args.kind == "all" else [args.kind]
    return save_attention_figures(maps, args.out, kinds=kinds, layers=args.layer, heads=args.head,
                                  average_heads=args.average, per_layer=args.per_layer, prefix=args.prefix,
                                  dpi=args.dpi)


def cmd_positional(args: argparse.Namespace) -> list[Path]:
    from .common import save_figure
    from .positional import plot_distance_profile, plot_positional_encoding, position_table_from_model, \
        sinusoidal_encoding

    out = Path(args.out)
    table = sinusoidal_encoding(args.positions, args.dim, args.layout)
    paths = [save_figure(plot_positional_encoding(table, metric=args.metric), out / "positional_sinusoidal.png",
                         dpi=args.dpi)]
    if args.model:
        from .attention_maps import _model_class_for
        from transformers import AutoConfig

        import tobigs_transformer  # noqa: F401

        config = AutoConfig.from_pretrained(args.model)
        model = _model_class_for(config).from_pretrained(args.model)
        learned = position_table_from_model(model, stack=args.stack, num_positions=args.positions)
        kind = "learned" if model.config.position_embedding_type == "learned" else "sinusoidal"
        paths.append(save_figure(
            plot_positional_encoding(learned, title=f"{kind} position table of {Path(args.model).name}",
                                     metric=args.metric),
            out / "positional_model.png", dpi=args.dpi))
        full = position_table_from_model(model, stack=args.stack)
        reference = sinusoidal_encoding(full.shape[0], full.shape[1], args.layout)
        paths.append(save_figure(plot_distance_profile({"sinusoidal (§3.5)": reference, f"model ({kind})": full}),
                                 out / "positional_distance_profile.png", dpi=args.dpi))
    return paths


def cmd_softmax(args: argparse.Namespace) -> list[Path]:
    from .common import save_figure
    from .softmax_saturation import plot_softmax_saturation, saturation_statistics, summary

    stats = saturation_statistics(args.d_k, num_keys=args.keys, num_queries=args.queries, seed=args.seed)
    out = Path(args.out)
    path = save_figure(plot_softmax_saturation(stats), out / "softmax_saturation.png", dpi=args.dpi)
    with open(out / "softmax_saturation.json", "w", encoding="utf-8") as handle:
        json.dump(summary(stats), handle, indent=2)
    return [path, out / "softmax_saturation.json"]


def cmd_curves(args: argparse.Namespace) -> list[Path]:
    from .common import save_figure
    from .curves import plot_loss_curves, read_log_history

    names = args.names.split(",") if args.names else [None] * len(args.runs)
    if len(names) != len(args.runs):
        raise ValueError(f"--names has {len(names)} names for {len(args.runs)} runs")
    histories = [read_log_history(run, name) for run, name in zip(args.runs, names)]
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        out = out / "loss_curves.png"
    return [save_figure(plot_loss_curves(histories, log_scale=args.log), out, dpi=args.dpi)]


def cmd_demo(args: argparse.Namespace) -> list[Path]:
    """Train the toy Korean->English translator (unless --model is given) and draw every figure from it."""
    from .attention_maps import compute_attention_maps, load_for_attention, save_attention_figures
    from .common import save_figure
    from .curves import plot_loss_curves
    from .demo import LECTURE_SOURCE, LECTURE_TARGET, train_toy_translator

    out = Path(args.out)
    model_dir = Path(args.model) if args.model else train_toy_translator(out / "model", max_steps=args.steps)
    model, tokenizer = load_for_attention(model_dir)
    maps = compute_attention_maps(model, tokenizer, args.text or LECTURE_SOURCE,
                                  args.target if args.text else (args.target or LECTURE_TARGET))
    paths = save_attention_figures(maps, out, average_heads=True, dpi=args.dpi)
    last = maps.weights["cross"].shape[0] - 1
    paths += save_attention_figures(maps, out, kinds=["cross"], layers=[last], prefix=f"attention_layer{last}",
                                    dpi=args.dpi)
    args.positions, args.dim, args.layout, args.metric, args.stack = 10, 10, "interleaved", "euclidean", None
    paths += cmd_positional(argparse.Namespace(**{**vars(args), "model": None}))
    try:
        paths.append(save_figure(plot_loss_curves([model_dir]), out / "loss_curves.png", dpi=args.dpi))
    except FileNotFoundError:
        logger.warning("%s has no trainer_state.json; no loss curves", model_dir)
    return paths


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str, default_out: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--out", default=default_out, help="output folder (default: %(default)s)")
        command.add_argument("--dpi", type=int, default=110)
        return command

    attention = add("attention", "self-, masked self- and cross-attention heatmaps of a saved model", "figures")
    attention.add_argument("model", help="folder of a saved model (save_pretrained)")
    attention.add_argument("--tokenizer", help="tokenizer folder (default: the model folder)")
    attention.add_argument("--text", required=True, help="input (source) text")
    attention.add_argument("--target", help="target text for the decoder of an encoder-decoder model "
                                            "(default: the model's greedy output)")
    attention.add_argument("--kind", choices=["all", "self", "masked", "cross"], default="all")
    attention.add_argument("--layer", type=_int_list, help="layers to draw, e.g. '0,5' (default: all)")
    attention.add_argument("--head", type=_int_list, help="heads to draw (default: all)")
    attention.add_argument("--average", action="store_true", help="one panel per layer, averaged over heads")
    attention.add_argument("--per-layer", action="store_true", help="one file per layer")
    attention.add_argument("--max-new-tokens", type=int, default=32)
    attention.add_argument("--prefix", default="attention", help="file name prefix (default: %(default)s)")
    attention.set_defaults(run=cmd_attention)

    positional = add("positional", "sinusoidal (and a model's) position table and the distances between positions",
                     "figures")
    positional.add_argument("--positions", type=int, default=10, help="number of positions (default: 10)")
    positional.add_argument("--dim", type=int, default=10, help="dimension of the sinusoid table (default: 10)")
    positional.add_argument("--layout", choices=["interleaved", "concatenated"], default="interleaved")
    positional.add_argument("--metric", choices=["euclidean", "cosine", "dot"], default="euclidean")
    positional.add_argument("--model", help="also draw this saved model's position table")
    positional.add_argument("--stack", choices=["encoder", "decoder"], help="which stack's table (default: first)")
    positional.set_defaults(run=cmd_positional)

    softmax = add("softmax", "softmax saturation with and without the 1/sqrt(d_k) scaling", "figures")
    softmax.add_argument("--d-k", type=_int_list, default=[4, 16, 64, 256, 1024])
    softmax.add_argument("--keys", type=int, default=32)
    softmax.add_argument("--queries", type=int, default=512)
    softmax.add_argument("--seed", type=int, default=0)
    softmax.set_defaults(run=cmd_softmax)

    curves = add("curves", "loss curves from Trainer output folders (trainer_state.json)", "figures")
    curves.add_argument("runs", nargs="+", help="Trainer output/checkpoint folders or trainer_state.json files")
    curves.add_argument("--names", help="comma-separated legend names, one per run")
    curves.add_argument("--log", action="store_true", help="logarithmic loss axis")
    curves.set_defaults(run=cmd_curves)

    demo = add("demo", "train a toy Korean->English translator (under a minute on CPU) and draw its attention, the "
                       "positional encoding and its loss curves", "runs/toy-ko-en")
    demo.add_argument("--model", help="use this saved model instead of training the toy one")
    demo.add_argument("--text", help="source text (default: the lecture's 투빅아, 나는 너를 많이 사랑해.)")
    demo.add_argument("--target", help="target text (default: the lecture's translation, or greedy output "
                                       "when --text is given)")
    demo.add_argument("--steps", type=int, default=200, help="training steps of the toy model (default: 200)")
    demo.set_defaults(run=cmd_demo)

    experiment = sub.add_parser("experiment", add_help=False,
                                help="RNN/LSTM vs Transformer experiment (options: tobigs-viz experiment --help)")
    experiment.set_defaults(run=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(_main, PROG, argv)


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "experiment":
        from ..experiments.rnn_vs_transformer import main as experiment_main

        return experiment_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        paths = args.run(args)
    except (ValueError, FileNotFoundError, OSError) as error:
        print(f"{PROG} {args.command}: error: {one_line(error)}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
