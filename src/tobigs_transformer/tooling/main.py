"""`tobigs`: the one front door to every command line of the package.

    tobigs --help                        # the commands, one line each
    tobigs train clm --help              # every option of one command, with its help text and default
    tobigs train clm configs/clm_shakespeare.yaml --max_steps 10

Each command lives in its own module as a :class:`~.commands.Command` (its dataclasses and its run function) and is
imported only when it runs, so ``tobigs --help`` stays as fast as importing the package.  Exit status: 0 ok, 2 usage
error (one line naming the bad option), 1 failure (one line; ``TOBIGS_DEBUG=1`` adds the traceback).

``python -m tobigs_transformer.tooling.main ...`` is the same command (for ``torchrun -m`` / ``accelerate launch -m``).
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from .cli import UsageError, run_cli
from .commands import Command, execute

__all__ = ["COMMANDS", "Entry", "find", "leave_process_group", "main"]


@dataclass(frozen=True)
class Entry:
    """A command of the front door: its words, its line in ``tobigs --help`` and where it lives."""

    words: str
    help: str
    #: ``"module:ATTRIBUTE"`` (``ATTRIBUTE.key`` for an entry of a dict): a :class:`~.commands.Command`, or a
    #: function ``main(argv)`` with a parser of its own.
    target: str


_TRAINING = "tobigs_transformer.training"
COMMANDS: tuple[Entry, ...] = (
    Entry("train clm", "causal language modelling (GPT): next-token prediction on text",
          f"{_TRAINING}.run_clm:COMMAND"),
    Entry("train mlm", "encoder pretraining: --objective mlm+nsp (BERT) | mlm (RoBERTa) | mlm+sop (ALBERT) | electra",
          f"{_TRAINING}.run_mlm:COMMAND"),
    Entry("train denoising", "BART denoising pretraining: --noising paper | bart-large | pegasus",
          f"{_TRAINING}.run_denoising:COMMAND"),
    Entry("train translation", "sequence to sequence: --task translation | summarization, with BLEU/chrF",
          f"{_TRAINING}.run_translation:COMMAND"),
    Entry("train classification", "sequence classification fine-tuning (accuracy, macro-F1)",
          f"{_TRAINING}.run_classification:COMMAND"),
    Entry("train token-classification", "token classification fine-tuning, e.g. named entities",
          f"{_TRAINING}.run_token_classification:COMMAND"),
    Entry("convert", "exact weight conversion between transformers' GPT-2/BERT/BART/Marian and this package",
          "tobigs_transformer.convert.cli:COMMAND"),
    Entry("export", "a trained model folder as a Hub-ready folder (model card, remote code), optionally pushed",
          "tobigs_transformer.hub.cli:COMMAND"),
    Entry("viz attention", "attention heatmaps (self, masked self, cross) of a saved model",
          "tobigs_transformer.viz.cli:COMMANDS.attention"),
    Entry("viz positional", "the sinusoidal (and a model's) position table and distances between positions",
          "tobigs_transformer.viz.cli:COMMANDS.positional"),
    Entry("viz softmax", "softmax saturation with and without the 1/sqrt(d_k) scaling",
          "tobigs_transformer.viz.cli:COMMANDS.softmax"),
    Entry("viz curves", "loss curves of Trainer output folders", "tobigs_transformer.viz.cli:COMMANDS.curves"),
    Entry("viz demo", "train a toy Korean->English translator and draw all of the above",
          "tobigs_transformer.viz.cli:COMMANDS.demo"),
    Entry("corpora", "build the lecture's real corpora offline (ko-en Bible, Shakespeare, Rotten Tomatoes)",
          "tobigs_transformer.data.cli_build_corpora:COMMAND"),
    Entry("tokenizer", "train a GPT / BERT / BART / translation tokenizer for AutoTokenizer",
          "tobigs_transformer.data.cli_train_tokenizer:COMMAND"),
    Entry("demo", "the main job: corpora, tokenizers, every family trained and evaluated, Hub export",
          "tobigs_transformer.experiments.demo:COMMAND"),
    Entry("electra-vs-mlm", "ELECTRA vs MLM-only pre-training at equal compute, fine-tuned on Rotten Tomatoes",
          "tobigs_transformer.experiments.electra_vs_mlm:COMMAND"),
    Entry("xl-memory", "Transformer-XL's segment memory vs none vs a GPT at equal compute, Shakespeare perplexity",
          "tobigs_transformer.experiments.xl_memory:COMMAND"),
    Entry("rnn-vs-transformer", "the lecture's experiment: RNN/LSTM encoder-decoders vs the Transformer",
          "tobigs_transformer.experiments.rnn_vs_transformer:COMMAND"),
)


def _load(entry: Entry):
    """The entry's object; ``COMMANDS.name`` reads a key of a module-level dict."""
    module, attribute = entry.target.split(":")
    name, _, key = attribute.partition(".")
    value = getattr(importlib.import_module(module), name)
    return value[key] if key else value


def find(argv: Sequence[str]) -> tuple[Entry | None, list[str]]:
    """The entry whose words start ``argv`` (the longest match), and the words after them."""
    for entry in sorted(COMMANDS, key=lambda e: -len(e.words.split())):
        words = entry.words.split()
        if list(argv[: len(words)]) == words:
            return entry, list(argv[len(words):])
    return None, list(argv)


def usage(prefix: str = "") -> str:
    """``tobigs --help`` (or ``tobigs train --help``): the commands under ``prefix``, one line each."""
    entries = [e for e in COMMANDS if e.words.startswith(prefix)]
    width = max(len(e.words) for e in entries) + 2
    lines = [f"usage: tobigs {prefix}<command> [options]", "",
             "The command lines of tobigs_transformer. `tobigs <command> --help` lists every option of one.", "",
             "commands:"]
    lines += [f"  {e.words:<{width}}{e.help}" for e in entries]
    lines += ["", "Exit status: 0 ok, 2 usage error, 1 failure (TOBIGS_DEBUG=1 prints the traceback)."]
    return "\n".join(lines)


def _groups() -> set[str]:
    return {e.words.split()[0] for e in COMMANDS if len(e.words.split()) > 1}


def _unknown(argv: list[str]) -> UsageError:
    if not argv:
        return UsageError("missing command; `tobigs --help` lists them")
    if argv[0].startswith("-"):
        return UsageError(f"unrecognized arguments: {' '.join(argv)}")
    if argv[0] in _groups():
        names = [e.words.split()[1] for e in COMMANDS if e.words.split()[0] == argv[0]]
        got = f"unknown {argv[0]} command {argv[1]!r}" if len(argv) > 1 else f"missing {argv[0]} command"
        return UsageError(f"{got}; choose from {', '.join(names)}")
    firsts = sorted({e.words.split()[0] for e in COMMANDS})
    close = difflib.get_close_matches(argv[0], firsts, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return UsageError(f"unknown command {argv[0]!r}{hint}; choose from {', '.join(firsts)}")


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """``tobigs ARGS``; ``prog`` replaces ``tobigs <command>`` in error lines (the names of the previous release)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    entry, rest = find(argv)
    if entry is None:
        asks_help = argv[:1] in (["-h"], ["--help"])
        if asks_help or (argv[:1] and argv[0] in _groups() and argv[1:2] in (["-h"], ["--help"])):
            print(usage("" if asks_help else argv[0] + " "))
            return 0
        error = _unknown(argv)
        return run_cli(lambda _: _raise(error), prog or "tobigs", [])
    name = prog or f"tobigs {entry.words}"
    target = _load(entry)
    if isinstance(target, Command):
        status = run_cli(lambda words: execute(target, words, name), name, rest)
    else:
        status = run_cli(target, name, rest)
    if status == 0:
        leave_process_group()
    return status


def leave_process_group() -> None:
    """After a command that succeeded under torchrun / accelerate launch: every rank waits for the others, then
    the group is closed.  A gloo rank that exits while another still reads from it aborts (SIGABRT) now and then;
    after a failure the launcher stops the other ranks, so nothing waits then."""
    distributed = sys.modules.get("torch.distributed")  # never imported here for a command that did not use it
    if distributed is not None and distributed.is_available() and distributed.is_initialized():
        distributed.barrier()
        distributed.destroy_process_group()


def _raise(error: Exception):
    raise error


if __name__ == "__main__":
    raise SystemExit(main())
