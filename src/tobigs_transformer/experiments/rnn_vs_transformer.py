"""Unit 1-2 of the lecture as an experiment: recurrent encoder-decoders against the Transformer on a synthetic task
with long-range dependencies.

Task: copy (or reverse) a random sequence of L symbols. In the stream "source, then target" the output at step t
needs the source token s that sits `L - s + t` tokens back (copy: exactly L; reverse: 2t + 1), so growing L means
growing dependency distances.

Models (all trained from scratch with a plain torch loop, same data, same steps):
  * ``lstm``        LSTM encoder-decoder with Luong ("general") attention,
  * ``rnn``         the same with a vanilla tanh RNN,
  * ``lstm-noattn`` LSTM encoder-decoder whose decoder only sees the final encoder state (Sutskever et al. 2014),
  * ``transformer`` `TobigsForConditionalGeneration` with a tiny transformer-base configuration.

Measured:
  1. accuracy vs dependency distance (teacher-forced token accuracy on fresh sequences, per distance L - s + t);
  2. gradient norm vs time step: ||d(u . h_last) / d e_t|| for the encoder's last state h_last and each input
     embedding e_t, at one length - the path from e_t to h_last is L - 1 - t steps through a recurrent cell but a
     single attention hop in the Transformer (paper Table 1, "maximum path length");
  3. training step time vs sequence length: the recurrent cells run L sequential steps; the Transformer processes
     every position at once (paper Table 1, "sequential operations").

Writes `results.json` and PNG figures into `--output_dir`. Defaults run in 59 s on an idle 2-core CPU (reference run
in docs/visualisation.md); `--quick` in seconds.

    tobigs rnn-vs-transformer --output_dir runs/rnn_vs_transformer
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from ..tooling.cli import UsageError
from ..tooling.commands import Command, run_command

logger = logging.getLogger(__name__)

PAD, BOS, EOS, FIRST_SYMBOL = 0, 1, 2, 3
TASKS = ("copy", "reverse")
MODELS = ("lstm", "rnn", "lstm-noattn", "transformer")
MODEL_LABELS = {
    "lstm": "LSTM + attention",
    "rnn": "RNN (tanh) + attention",
    "lstm-noattn": "LSTM, no attention",
    "transformer": "Transformer",
}
MODEL_COLOURS = {"lstm": "C1", "rnn": "C3", "lstm-noattn": "C7", "transformer": "C0"}


@dataclass
class ExperimentConfig:
    task: str = "copy"
    models: tuple[str, ...] = ("lstm-noattn", "rnn", "lstm", "transformer")
    num_symbols: int = 10
    min_length: int = 4
    max_length: int = 24
    eval_lengths: tuple[int, ...] = (5, 10, 15, 20)  # inside the trained range
    eval_batch_size: int = 256
    steps: int = 1000
    batch_size: int = 64
    learning_rate: float = 3e-3
    warmup_steps: int = 50
    hidden_size: int = 64
    transformer_layers: int = 2
    transformer_heads: int = 4
    transformer_ffn: int = 128
    grad_length: int = 48
    grad_batch_size: int = 32
    timing_lengths: tuple[int, ...] = (16, 32, 64, 128, 256)
    timing_batch_size: int = 32
    timing_repeats: int = 3
    log_every: int = 25
    seed: int = 0
    threads: int | None = 1  # 1: timings stable on a shared machine; 0/None: torch's default
    extra: dict = field(default_factory=dict)

    @property
    def vocab_size(self) -> int:
        return FIRST_SYMBOL + self.num_symbols

    @classmethod
    def quick(cls, **overrides) -> "ExperimentConfig":
        """Seconds-long settings for tests and smoke runs (the numbers mean little)."""
        values = dict(max_length=8, min_length=3, eval_lengths=(4, 8), eval_batch_size=32, steps=12, batch_size=16,
                      hidden_size=16, transformer_ffn=32, grad_length=10, grad_batch_size=4, timing_lengths=(8, 16),
                      timing_batch_size=4, timing_repeats=1, log_every=4, warmup_steps=4)
        return cls(**{**values, **overrides})

    def validate(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task={self.task!r} is not supported; choose one of {', '.join(TASKS)}")
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or not self.models:
            raise ValueError(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
        if not 1 <= self.min_length <= self.max_length:
            raise ValueError(f"need 1 <= min_length ({self.min_length}) <= max_length ({self.max_length})")
        if self.num_symbols < 2:
            raise ValueError("num_symbols must be >= 2")
        if self.hidden_size % self.transformer_heads:
            raise ValueError(f"hidden_size={self.hidden_size} must be divisible by transformer_heads="
                             f"{self.transformer_heads}")
        if any(length < 1 for length in (*self.eval_lengths, *self.timing_lengths, self.grad_length)):
            raise ValueError("all lengths must be >= 1")


# ---------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------


def make_batch(batch_size: int, length: int, task: str, num_symbols: int, generator: torch.Generator):
    """source (B, L) symbols; decoder_input (B, L+1) = BOS + target; labels (B, L+1) = target + EOS."""
    source = torch.randint(FIRST_SYMBOL, FIRST_SYMBOL + num_symbols, (batch_size, length), generator=generator)
    target = source if task == "copy" else source.flip(1)
    decoder_input = torch.cat([torch.full((batch_size, 1), BOS), target], dim=1)
    labels = torch.cat([target, torch.full((batch_size, 1), EOS)], dim=1)
    return source, decoder_input, labels


def dependency_distance(length: int, task: str) -> np.ndarray:
    """(L,) distance in the source+target stream between target step t and the source token it copies."""
    t = np.arange(length)
    source_index = t if task == "copy" else length - 1 - t
    return length - source_index + t


# ---------------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------------


class RNNSeq2Seq(nn.Module):
    """Recurrent encoder-decoder (torch.nn only). With `attention`, Luong et al. 2015 "general" attention on the
    decoder states: score(h_t, s_j) = h_t^T W s_j, context c_t, output tanh(W_c [c_t; h_t]); without it the decoder
    sees the source only through the final encoder state (the fixed-size bottleneck of Unit 1)."""

    def __init__(self, vocab_size: int, hidden_size: int, cell: str = "lstm", attention: bool = True):
        super().__init__()
        rnn_class = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.embed = nn.Embedding(vocab_size, hidden_size, padding_idx=PAD)
        self.encoder = rnn_class(hidden_size, hidden_size, batch_first=True)
        self.decoder = rnn_class(hidden_size, hidden_size, batch_first=True)
        self.attention = attention
        if attention:
            self.score = nn.Linear(hidden_size, hidden_size, bias=False)
            self.combine = nn.Linear(2 * hidden_size, hidden_size)
        self.output = nn.Linear(hidden_size, vocab_size)

    def encode(self, source_embeds: torch.Tensor):
        """(B, L, H) embeddings -> encoder states (B, L, H) and the final recurrent state."""
        return self.encoder(source_embeds)

    def last_encoder_state(self, source_embeds: torch.Tensor) -> torch.Tensor:
        states, _ = self.encode(source_embeds)
        return states[:, -1]  # (B, H): h_L, which every input reaches only through the recurrence

    def forward(self, source: torch.Tensor, decoder_input: torch.Tensor) -> torch.Tensor:
        encoder_states, final = self.encode(self.embed(source))  # (B, L, H)
        decoder_states, _ = self.decoder(self.embed(decoder_input), final)  # (B, T, H), starts from the final state
        if self.attention:
            scores = decoder_states @ self.score(encoder_states).transpose(1, 2)  # (B, T, L)
            context = torch.softmax(scores, dim=-1) @ encoder_states  # (B, T, H)
            decoder_states = torch.tanh(self.combine(torch.cat([context, decoder_states], dim=-1)))
        return self.output(decoder_states)  # (B, T, V)


class TransformerSeq2Seq(nn.Module):
    """Our `TobigsForConditionalGeneration` (tiny transformer-base: post-LN, sinusoidal positions, ReLU) behind the
    same (source, decoder_input) -> logits interface."""

    def __init__(self, config: ExperimentConfig, max_positions: int):
        super().__init__()
        from tobigs_transformer import TobigsConfig, TobigsForConditionalGeneration

        model_config = TobigsConfig.from_preset(
            "transformer-base",
            vocab_size=config.vocab_size,
            d_model=config.hidden_size,
            encoder_layers=config.transformer_layers,
            decoder_layers=config.transformer_layers,
            encoder_attention_heads=config.transformer_heads,
            decoder_attention_heads=config.transformer_heads,
            encoder_ffn_dim=config.transformer_ffn,
            decoder_ffn_dim=config.transformer_ffn,
            dropout=0.0,
            label_smoothing=0.0,
            max_position_embeddings=max_positions,
            pad_token_id=PAD,
            bos_token_id=BOS,
            eos_token_id=EOS,
            decoder_start_token_id=BOS,
        )
        self.model = TobigsForConditionalGeneration(model_config)

    def last_encoder_state(self, source_embeds: torch.Tensor) -> torch.Tensor:
        encoder = self.model.model.encoder
        # inputs_embeds skips the lookup; the stack still scales them by sqrt(d_model) and adds the positions.
        return encoder(inputs_embeds=source_embeds).last_hidden_state[:, -1]

    @property
    def embed(self) -> nn.Embedding:
        return self.model.get_input_embeddings()

    def forward(self, source: torch.Tensor, decoder_input: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=source, decoder_input_ids=decoder_input, use_cache=False).logits


def build_model(name: str, config: ExperimentConfig, max_positions: int) -> nn.Module:
    if name == "transformer":
        return TransformerSeq2Seq(config, max_positions)
    cell = "rnn" if name == "rnn" else "lstm"
    return RNNSeq2Seq(config.vocab_size, config.hidden_size, cell=cell, attention=name != "lstm-noattn")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ---------------------------------------------------------------------------------------------------------------
# Training, evaluation, measurements
# ---------------------------------------------------------------------------------------------------------------


def train(model: nn.Module, config: ExperimentConfig, generator: torch.Generator) -> dict:
    """Adam with linear warm-up then cosine decay, cross-entropy on every target token (+ EOS)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, betas=(0.9, 0.98))

    def schedule(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    log = {"step": [], "loss": []}
    running, count = 0.0, 0
    start = time.perf_counter()
    for step in range(config.steps):
        length = int(torch.randint(config.min_length, config.max_length + 1, (1,), generator=generator))
        source, decoder_input, labels = make_batch(config.batch_size, length, config.task, config.num_symbols,
                                                   generator)
        logits = model(source, decoder_input)
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        running += loss.item()
        count += 1
        if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
            log["step"].append(step + 1)
            log["loss"].append(running / count)
            running, count = 0.0, 0
    log["seconds"] = time.perf_counter() - start
    return log


@torch.no_grad()
def evaluate(model: nn.Module, config: ExperimentConfig, generator: torch.Generator) -> dict:
    """Teacher-forced accuracy per length and per dependency distance (EOS excluded), plus exact-match rate."""
    model.eval()
    by_length, exact, by_distance = {}, {}, {}
    for length in config.eval_lengths:
        source, decoder_input, labels = make_batch(config.eval_batch_size, length, config.task, config.num_symbols,
                                                   generator)
        predictions = model(source, decoder_input).argmax(-1)[:, :length]
        correct = (predictions == labels[:, :length]).float()  # (B, L)
        by_length[str(length)] = correct.mean().item()
        exact[str(length)] = correct.all(dim=1).float().mean().item()
        for distance, accuracy in zip(dependency_distance(length, config.task), correct.mean(0).tolist()):
            by_distance.setdefault(int(distance), []).append(accuracy)
    distances = sorted(by_distance)
    return {
        "accuracy_by_length": by_length,
        "exact_match_by_length": exact,
        "distance": distances,
        "accuracy_by_distance": [float(np.mean(by_distance[d])) for d in distances],
    }


def gradient_norms(model: nn.Module, config: ExperimentConfig, generator: torch.Generator) -> dict:
    """||d(u . h_last)/d e_t|| for every input position t (mean over a batch, u a fixed random unit vector)."""
    model.eval()
    source, _, _ = make_batch(config.grad_batch_size, config.grad_length, config.task, config.num_symbols, generator)
    embeds = model.embed(source).detach().requires_grad_(True)  # (B, L, H)
    direction = torch.randn(embeds.shape[-1], generator=generator)
    direction = direction / direction.norm()
    (model.last_encoder_state(embeds) @ direction).sum().backward()
    norms = embeds.grad.norm(dim=-1).mean(0)  # (L,)
    steps_back = list(range(config.grad_length - 1, -1, -1))  # L - 1 - t
    return {"position": list(range(config.grad_length)), "steps_back": steps_back, "norm": norms.tolist()}


def step_times(name: str, config: ExperimentConfig) -> dict:
    """Seconds of one training step (forward, backward, Adam) of a fresh model per sequence length: the best of
    `timing_repeats` runs after one warm-up (the minimum is the estimate least disturbed by other processes)."""
    generator = torch.Generator().manual_seed(config.seed + 1)
    model = build_model(name, config, max_positions=max(config.timing_lengths) + 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    seconds = []
    for length in config.timing_lengths:
        source, decoder_input, labels = make_batch(config.timing_batch_size, length, config.task, config.num_symbols,
                                                   generator)
        samples = []
        for repeat in range(config.timing_repeats + 1):
            start = time.perf_counter()
            logits = model(source, decoder_input)
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if repeat:  # the first call warms up allocator and kernels
                samples.append(time.perf_counter() - start)
        seconds.append(min(samples))
    return {"length": list(config.timing_lengths), "seconds": seconds}


def run_experiment(config: ExperimentConfig) -> dict:
    """Train and measure every model of `config.models`; returns the JSON-ready results. torch's thread count is
    set to `config.threads` for the run and restored afterwards."""
    config.validate()
    previous_threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _run(config)
    finally:
        torch.set_num_threads(previous_threads)


def _run(config: ExperimentConfig) -> dict:
    max_positions = max(config.max_length, *config.eval_lengths, config.grad_length) + 2
    results = {"config": {k: v for k, v in asdict(config).items() if k != "extra"},
               "environment": {"torch": torch.__version__, "threads": torch.get_num_threads(),
                               "python": platform.python_version(), "machine": platform.machine()},
               "models": {}}
    started = time.perf_counter()
    for index, name in enumerate(config.models):
        torch.manual_seed(config.seed + index)
        generator = torch.Generator().manual_seed(config.seed)  # identical data stream for every model
        model = build_model(name, config, max_positions)
        logger.info("training %s (%d parameters)", name, count_parameters(model))
        log = train(model, config, generator)
        eval_generator = torch.Generator().manual_seed(config.seed + 1000)
        entry = {
            "label": MODEL_LABELS[name],
            "parameters": count_parameters(model),
            "train": log,
            "eval": evaluate(model, config, eval_generator),
            "gradient": gradient_norms(model, config, torch.Generator().manual_seed(config.seed + 2000)),
            "timing": step_times(name, config),
        }
        logger.info("%s: loss %.3f, accuracy by length %s (%.1fs)", name, log["loss"][-1],
                    {k: round(v, 3) for k, v in entry["eval"]["accuracy_by_length"].items()}, log["seconds"])
        results["models"][name] = entry
    results["seconds"] = time.perf_counter() - started
    return results


# ---------------------------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------------------------


def _series(results: dict):
    for name, entry in results["models"].items():
        yield name, entry, MODEL_COLOURS.get(name, None)


def plot_training(ax, results: dict) -> None:
    for name, entry, colour in _series(results):
        ax.plot(entry["train"]["step"], entry["train"]["loss"], color=colour, label=entry["label"])
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("cross-entropy (log scale)")
    ax.set_title(f"training loss ({results['config']['task']}, lengths {results['config']['min_length']}–"
                 f"{results['config']['max_length']})", fontsize=10)


def plot_accuracy(ax, results: dict) -> None:
    for name, entry, colour in _series(results):
        ax.plot(entry["eval"]["distance"], entry["eval"]["accuracy_by_distance"], "o-", markersize=3, color=colour,
                label=entry["label"])
    chance = 1.0 / results["config"]["num_symbols"]
    ax.axhline(chance, color="grey", linestyle=":", linewidth=1, label="chance")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("dependency distance (tokens between a source token and its copy)")
    ax.set_ylabel("token accuracy (teacher forcing)")
    ax.set_title("accuracy vs distance", fontsize=10)


def plot_gradients(ax, results: dict) -> None:
    for name, entry, colour in _series(results):
        gradient = entry["gradient"]
        ax.plot(gradient["steps_back"], gradient["norm"], color=colour, label=entry["label"])
    ax.set_yscale("log")
    ax.set_xlabel("steps back from the last input  (L − 1 − t)")
    ax.set_ylabel("‖∂ h_last / ∂ e_t‖ (log scale)")
    ax.set_title(f"gradient reaching input t (L = {results['config']['grad_length']})", fontsize=10)


def plot_timing(ax, results: dict) -> None:
    for name, entry, colour in _series(results):
        timing = entry["timing"]
        growth = timing["seconds"][-1] / timing["seconds"][0]
        label = f"{entry['label']} (×{growth:.0f} from L={timing['length'][0]} to {timing['length'][-1]})"
        ax.plot(timing["length"], [1000 * s for s in timing["seconds"]], "o-", color=colour, label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length L")
    ax.set_ylabel("ms per training step (log scale)")
    threads = results["environment"]["threads"]
    ax.set_title(f"training step time (batch {results['config']['timing_batch_size']}, "
                 f"{threads} CPU thread{'s' if threads != 1 else ''})", fontsize=10)


PLOTS = {"training_loss": plot_training, "accuracy_vs_distance": plot_accuracy,
         "gradient_vs_timestep": plot_gradients, "step_time_vs_length": plot_timing}


def summary_figure(results: dict, title: str = "RNN/LSTM encoder-decoders vs the Transformer on a long-range task"):
    """The four measurements as the panels of one figure."""
    from ..viz.common import mark_panel, new_figure

    fig = new_figure(12.0, 8.4)
    for ax, plot in zip(fig.subplots(2, 2).flat, PLOTS.values()):
        mark_panel(ax)
        plot(ax, results)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=12)
    return fig


def make_figures(results: dict, out_dir: str | os.PathLike, dpi: int = 110) -> list[Path]:
    """One PNG per measurement plus `rnn_vs_transformer.png` with all four panels."""
    from ..viz.common import mark_panel, new_figure, save_figure

    out_dir = Path(out_dir)
    paths = []
    for name, plot in PLOTS.items():
        fig = new_figure(6.4, 4.2)
        ax = mark_panel(fig.subplots())
        plot(ax, results)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        paths.append(save_figure(fig, out_dir / f"{name}.png", dpi=dpi))
    paths.append(save_figure(summary_figure(results), out_dir / "rnn_vs_transformer.png", dpi=dpi))
    return paths


# ---------------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------------


def _ints(option: str, text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(x) for x in text.replace(",", " ").split())
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected comma-separated integers, e.g. 5,10,15") from None


_DEFAULTS = ExperimentConfig()


@dataclass
class ExperimentArguments:
    """Options of `tobigs rnn-vs-transformer`; unset ones take the values of ``ExperimentConfig`` (or of
    ``ExperimentConfig.quick()`` with ``--quick``)."""

    output_dir: str = field(
        default="runs/rnn_vs_transformer",
        metadata={"aliases": ["--out"], "help": "Output folder (--out: deprecated spelling)."},
    )
    quick: bool = field(default=False, metadata={"help": "Tiny settings that run in seconds (smoke test)."})
    task: Literal["copy", "reverse"] | None = field(default=None, metadata={"help": f"default: {_DEFAULTS.task}"})
    models: str | None = field(
        default=None,
        metadata={"help": f"Comma-separated subset of {','.join(MODELS)} (default: {','.join(_DEFAULTS.models)})."},
    )
    steps: int | None = field(
        default=None, metadata={"help": f"Training steps per model (default: {_DEFAULTS.steps})."}
    )
    batch_size: int | None = field(default=None, metadata={"help": f"default: {_DEFAULTS.batch_size}"})
    min_length: int | None = field(default=None, metadata={"help": f"default: {_DEFAULTS.min_length}"})
    max_length: int | None = field(default=None, metadata={"help": f"default: {_DEFAULTS.max_length}"})
    eval_lengths: str | None = field(default=None, metadata={"help": "e.g. '5,10,15,20' (default: 4 steps up to "
                                                                     "--max_length)."})
    hidden_size: int | None = field(default=None, metadata={"help": "RNN hidden size = Transformer d_model."})
    learning_rate: float | None = field(default=None, metadata={"help": f"default: {_DEFAULTS.learning_rate}"})
    grad_length: int | None = field(default=None, metadata={"help": "Length of the gradient-norm measurement."})
    timing_lengths: str | None = field(default=None, metadata={"help": "e.g. '16,32,64,128,256'"})
    timing_repeats: int | None = field(default=None, metadata={"help": "Timed steps per length."})
    seed: int | None = field(default=None, metadata={"help": f"default: {_DEFAULTS.seed}"})
    threads: int | None = field(default=None, metadata={"help": "Torch threads (default: 1; 0 = torch's default)."})
    dpi: int = field(default=110, metadata={"help": "Resolution of the PNG files."})

    def __post_init__(self):
        try:
            self.config()
        except ValueError as error:
            raise UsageError(str(error)) from error

    def config(self) -> ExperimentConfig:
        overrides = {name: getattr(self, name) for name in (
            "task", "steps", "batch_size", "min_length", "max_length", "hidden_size", "learning_rate", "grad_length",
            "timing_repeats", "seed", "threads") if getattr(self, name) is not None}
        for name in ("eval_lengths", "timing_lengths"):
            if getattr(self, name) is not None:
                overrides[name] = _ints(f"--{name}", getattr(self, name))
        if self.models:
            overrides["models"] = tuple(m.strip() for m in self.models.split(",") if m.strip())
        if "max_length" in overrides and "eval_lengths" not in overrides:
            top = overrides["max_length"]
            overrides["eval_lengths"] = tuple(sorted({max(1, top * i // 4) for i in range(1, 5)}))
        config = ExperimentConfig.quick(**overrides) if self.quick else ExperimentConfig(**overrides)
        config.validate()
        return config


def run(args: ExperimentArguments) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    results = run_experiment(args.config())
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "results.json", "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)
    paths = make_figures(results, out_dir, dpi=args.dpi)
    print(f"wrote {out_dir / 'results.json'} and {len(paths)} figures in {results['seconds']:.1f}s")
    for name, entry in results["models"].items():
        accuracy = ", ".join(f"L={k}: {v:.3f}" for k, v in entry["eval"]["accuracy_by_length"].items())
        timing = ", ".join(f"{n}: {1000 * s:.1f}ms" for n, s in zip(entry["timing"]["length"],
                                                                    entry["timing"]["seconds"]))
        print(f"  {entry['label']:<24} params {entry['parameters']:>7}  accuracy {accuracy}  step time {timing}")
    return 0


COMMAND = Command(arguments=(ExperimentArguments,), run=run, description=__doc__)


def main(argv: list[str] | None = None) -> int:
    """`tobigs rnn-vs-transformer` under its previous name: exit status 2 with one line on stderr for a bad option,
    1 for a runtime failure (``TOBIGS_DEBUG=1`` adds the traceback), 0 otherwise."""
    return run_command(COMMAND, "tobigs-rnn-vs-transformer", argv)


if __name__ == "__main__":
    raise SystemExit(main())
