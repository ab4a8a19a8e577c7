"""`tobigs viz`: write the lecture's pictures as PNG files.

    tobigs viz attention MODEL_DIR --text "투빅아, 나는 너를 많이 사랑해." --target "Tobigs, I love you so much." \
        --output_dir figs
    tobigs viz positional --positions 10 --dim 10 [--model MODEL_DIR] --output_dir figs
    tobigs viz softmax --output_dir figs
    tobigs viz curves RUN_DIR [RUN_DIR ...] --output_dir figs/loss.png
    tobigs viz demo --output_dir runs/toy-ko-en     (trains a toy Korean->English model, then draws all of the above)

The RNN/LSTM vs Transformer experiment is its own command, `tobigs rnn-vs-transformer`.  Exit status 2 with a
one-line message for a bad option or bad input (missing files, a model without an eager attention path, ...), 1 for
any other failure (``TOBIGS_DEBUG=1`` adds the traceback).  ``--out`` is the previous release's spelling of
``--output_dir`` (kept for one release).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..tooling.cli import InputError, UsageError, one_line
from ..tooling.commands import Command, run_group

logger = logging.getLogger("tobigs_transformer.viz")
PROG = "tobigs-viz"


def _int_list(option: str, text: str | None) -> list[int] | None:
    """``"0,5"`` / ``"0 5"`` → ``[0, 5]``."""
    if text is None:
        return None
    try:
        return [int(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected comma-separated integers, e.g. 0,5") from None


@dataclass
class FigureArguments:
    output_dir: str = field(
        default="figures", metadata={"aliases": ["--out"], "help": "Output folder (--out: deprecated spelling)."}
    )
    dpi: int = field(default=110, metadata={"help": "Resolution of the PNG files."})
    verbose: bool = field(default=False, metadata={"aliases": ["-v"], "help": "Log progress."})


@dataclass
class AttentionArguments(FigureArguments):
    model: str | None = field(
        default=None, metadata={"help": "Folder of a saved model (save_pretrained); may be given as the first word."}
    )
    tokenizer: str | None = field(default=None, metadata={"help": "Tokenizer folder (default: the model folder)."})
    text: str | None = field(default=None, metadata={"help": "Input (source) text (required)."})
    target: str | None = field(
        default=None,
        metadata={"help": "Target text for the decoder of an encoder-decoder model (default: its greedy output)."},
    )
    kind: Literal["all", "self", "masked", "cross"] = field(default="all", metadata={"help": "Which attention."})
    layer: str | None = field(default=None, metadata={"help": "Layers to draw, e.g. '0,5' (default: all)."})
    head: str | None = field(default=None, metadata={"help": "Heads to draw, e.g. '0,1' (default: all)."})
    average: bool = field(default=False, metadata={"help": "One panel per layer, averaged over heads."})
    per_layer: bool = field(default=False, metadata={"help": "One file per layer."})
    max_new_tokens: int = field(default=32, metadata={"help": "Tokens generated when there is no --target."})
    prefix: str = field(default="attention", metadata={"help": "File name prefix."})
    layers: list[int] | None = field(init=False, default=None)  # --layer / --head as numbers
    heads: list[int] | None = field(init=False, default=None)

    def __post_init__(self):
        missing = [option for option, value in (("MODEL_DIR (or --model)", self.model), ("--text", self.text))
                   if value is None]
        if missing:
            raise UsageError(f"the following arguments are required: {', '.join(missing)}")
        self.layers, self.heads = _int_list("--layer", self.layer), _int_list("--head", self.head)


@dataclass
class PositionalArguments(FigureArguments):
    positions: int = field(default=10, metadata={"help": "Number of positions."})
    dim: int = field(default=10, metadata={"help": "Dimension of the sinusoid table."})
    layout: Literal["interleaved", "concatenated"] = field(
        default="interleaved", metadata={"help": "sin/cos interleaved (the paper) or all sines then all cosines."}
    )
    metric: Literal["euclidean", "cosine", "dot"] = field(
        default="euclidean", metadata={"help": "Distance between position vectors."}
    )
    model: str | None = field(default=None, metadata={"help": "Also draw this saved model's position table."})
    stack: Literal["encoder", "decoder"] | None = field(
        default=None, metadata={"help": "Which stack's table (default: the first)."}
    )


@dataclass
class SoftmaxArguments(FigureArguments):
    d_k: str = field(default="4,16,64,256,1024", metadata={"help": "Key dimensions, comma-separated."})
    keys: int = field(default=32, metadata={"help": "Keys per query."})
    queries: int = field(default=512, metadata={"help": "Queries per d_k."})
    seed: int = field(default=0, metadata={"help": "Seed of the random queries and keys."})
    d_ks: list[int] = field(init=False, default_factory=list)  # --d-k as numbers

    def __post_init__(self):
        self.d_ks = _int_list("--d-k", self.d_k)


@dataclass
class CurvesArguments(FigureArguments):
    runs: list[str] = field(
        default_factory=list,
        metadata={"help": "Trainer output/checkpoint folders or trainer_state.json files; may be given as the "
                          "first words."},
    )
    names: str | None = field(default=None, metadata={"help": "Comma-separated legend names, one per run."})
    log: bool = field(default=False, metadata={"help": "Logarithmic loss axis."})

    def __post_init__(self):
        if not self.runs:
            raise UsageError("the following arguments are required: RUN_DIR (or --runs)")


@dataclass
class DemoArguments(FigureArguments):
    output_dir: str = field(
        default="runs/toy-ko-en",
        metadata={"aliases": ["--out"], "help": "Output folder (--out: deprecated spelling)."},
    )
    model: str | None = field(default=None, metadata={"help": "Use this saved model instead of training the toy one."})
    text: str | None = field(
        default=None, metadata={"help": "Source text (default: the lecture's 투빅아, 나는 너를 많이 사랑해.)."}
    )
    target: str | None = field(
        default=None,
        metadata={"help": "Target text (default: the lecture's translation, or the greedy output with --text)."},
    )
    steps: int = field(default=200, metadata={"help": "Training steps of the toy model."})


def _figures(run: Callable[..., list[Path]]) -> Callable[..., int]:
    """Log at the asked level, run, print the files written; bad input is one line and exit status 2."""

    @functools.wraps(run)
    def command(args: FigureArguments) -> int:
        level = logging.INFO if args.verbose else logging.WARNING
        logging.basicConfig(level=level, format="%(levelname)s %(message)s")
        try:
            paths = run(args)
        except (ValueError, FileNotFoundError, OSError) as error:
            raise InputError(one_line(error)) from error
        for path in paths:
            print(path)
        return 0

    return command


@_figures
def attention(args: AttentionArguments) -> list[Path]:
    from .attention_maps import compute_attention_maps, load_for_attention, save_attention_figures

    model, tokenizer = load_for_attention(args.model, args.tokenizer)
    maps = compute_attention_maps(model, tokenizer, args.text, args.target, max_new_tokens=args.max_new_tokens)
    kinds = maps.kinds if args.kind == "all" else [args.kind]
    return save_attention_figures(maps, args.output_dir, kinds=kinds, layers=args.layers, heads=args.heads,
                                  average_heads=args.average, per_layer=args.per_layer, prefix=args.prefix,
                                  dpi=args.dpi)


def _positional_figures(out: Path, positions: int, dim: int, layout: str, metric: str, model_dir: str | None,
                        stack: str | None, dpi: int) -> list[Path]:
    from .common import save_figure
    from .positional import plot_distance_profile, plot_positional_encoding, position_table_from_model, \
        sinusoidal_encoding

    table = sinusoidal_encoding(positions, dim, layout)
    paths = [save_figure(plot_positional_encoding(table, metric=metric), out / "positional_sinusoidal.png", dpi=dpi)]
    if model_dir:
        from transformers import AutoConfig

        from .attention_maps import _model_class_for

        config = AutoConfig.from_pretrained(model_dir)
        model = _model_class_for(config).from_pretrained(model_dir)
        learned = position_table_from_model(model, stack=stack, num_positions=positions)
        kind = "learned" if model.config.position_embedding_type == "learned" else "sinusoidal"
        title = f"{kind} position table of {Path(model_dir).name}"
        paths.append(save_figure(plot_positional_encoding(learned, title=title, metric=metric),
                                 out / "positional_model.png", dpi=dpi))
        full = position_table_from_model(model, stack=stack)
        reference = sinusoidal_encoding(full.shape[0], full.shape[1], layout)
        paths.append(save_figure(plot_distance_profile({"sinusoidal (§3.5)": reference, f"model ({kind})": full}),
                                 out / "positional_distance_profile.png", dpi=dpi))
    return paths


@_figures
def positional(args: PositionalArguments) -> list[Path]:
    return _positional_figures(Path(args.output_dir), args.positions, args.dim, args.layout, args.metric, args.model,
                               args.stack, args.dpi)


@_figures
def softmax(args: SoftmaxArguments) -> list[Path]:
    from .common import save_figure
    from .softmax_saturation import plot_softmax_saturation, saturation_statistics, summary

    stats = saturation_statistics(args.d_ks, num_keys=args.keys, num_queries=args.queries, seed=args.seed)
    out = Path(args.output_dir)
    path = save_figure(plot_softmax_saturation(stats), out / "softmax_saturation.png", dpi=args.dpi)
    with open(out / "softmax_saturation.json", "w", encoding="utf-8") as handle:
        json.dump(summary(stats), handle, indent=2)
    return [path, out / "softmax_saturation.json"]


@_figures
def curves(args: CurvesArguments) -> list[Path]:
    from .common import save_figure
    from .curves import plot_loss_curves, read_log_history

    names = args.names.split(",") if args.names else [None] * len(args.runs)
    if len(names) != len(args.runs):
        raise ValueError(f"--names has {len(names)} names for {len(args.runs)} runs")
    histories = [read_log_history(run, name) for run, name in zip(args.runs, names)]
    out = Path(args.output_dir)
    if out.suffix.lower() != ".png":
        out = out / "loss_curves.png"
    return [save_figure(plot_loss_curves(histories, log_scale=args.log), out, dpi=args.dpi)]


@_figures
def demo(args: DemoArguments) -> list[Path]:
    """Train the toy Korean->English translator (unless --model is given) and draw every figure from it."""
    from .attention_maps import compute_attention_maps, load_for_attention, save_attention_figures
    from .common import save_figure
    from .curves import plot_loss_curves
    from .demo import LECTURE_SOURCE, LECTURE_TARGET, train_toy_translator

    out = Path(args.output_dir)
    model_dir = Path(args.model) if args.model else train_toy_translator(out / "model", max_steps=args.steps)
    model, tokenizer = load_for_attention(model_dir)
    maps = compute_attention_maps(model, tokenizer, args.text or LECTURE_SOURCE,
                                  args.target if args.text else (args.target or LECTURE_TARGET))
    paths = save_attention_figures(maps, out, average_heads=True, dpi=args.dpi)
    last = maps.weights["cross"].shape[0] - 1
    paths += save_attention_figures(maps, out, kinds=["cross"], layers=[last], prefix=f"attention_layer{last}",
                                    dpi=args.dpi)
    paths += _positional_figures(out, 10, 10, "interleaved", "euclidean", None, None, args.dpi)
    try:
        paths.append(save_figure(plot_loss_curves([model_dir]), out / "loss_curves.png", dpi=args.dpi))
    except FileNotFoundError:
        logger.warning("%s has no trainer_state.json; no loss curves", model_dir)
    return paths


#: `tobigs viz NAME`: the figure commands.
COMMANDS = {
    "attention": Command((AttentionArguments,), attention, "Self-, masked self- and cross-attention heatmaps of a "
                         "saved model.", positional="model"),
    "positional": Command((PositionalArguments,), positional, "The sinusoidal (and a model's) position table and the "
                          "distances between positions."),
    "softmax": Command((SoftmaxArguments,), softmax, "Softmax saturation with and without the 1/sqrt(d_k) scaling."),
    "curves": Command((CurvesArguments,), curves, "Loss curves from Trainer output folders (trainer_state.json).",
                      positional="runs"),
    "demo": Command((DemoArguments,), demo, "Train a toy Korean->English translator (under a minute on a 2-core CPU) "
                    "and draw its attention, the positional encoding and its loss curves."),
}


def main(argv: list[str] | None = None) -> int:
    """``tobigs viz`` under its previous name ``tobigs-viz``: ``tobigs-viz NAME [options]`` (exit status 0, 1, 2)."""
    return run_group(COMMANDS, PROG, argv)


if __name__ == "__main__":
    raise SystemExit(main())
