"""The console names of the previous release, kept as thin aliases of ``tobigs`` for one release.

Each runs the same command as ``tobigs <command>`` (same options, same exit statuses) and names itself in its error
lines as before.  They go in the next release: use ``tobigs <command>`` (``tobigs --help`` lists the commands).

| previous name | now |
|---|---|
| ``tobigs-train-clm`` … ``-token-classification`` | ``tobigs train clm`` … ``token-classification`` |
| ``tobigs-convert`` / ``tobigs-export`` | ``tobigs convert`` / ``tobigs export`` |
| ``tobigs-viz NAME`` (``tobigs-viz experiment``) | ``tobigs viz NAME`` (``tobigs rnn-vs-transformer``) |
| ``tobigs-build-corpora`` / ``tobigs-train-tokenizer`` | ``tobigs corpora`` / ``tobigs tokenizer`` |
| ``tobigs-demo`` / ``tobigs-rnn-vs-transformer`` | ``tobigs demo`` / ``tobigs rnn-vs-transformer`` |
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .main import main as tobigs

#: Previous console name → the words of the ``tobigs`` command it runs.
ALIASES = {
    "tobigs-train-clm": "train clm",
    "tobigs-train-mlm": "train mlm",
    "tobigs-train-denoising": "train denoising",
    "tobigs-train-translation": "train translation",
    "tobigs-train-classification": "train classification",
    "tobigs-train-token-classification": "train token-classification",
    "tobigs-convert": "convert",
    "tobigs-export": "export",
    "tobigs-viz": "viz",
    "tobigs-build-corpora": "corpora",
    "tobigs-train-tokenizer": "tokenizer",
    "tobigs-demo": "demo",
    "tobigs-rnn-vs-transformer": "rnn-vs-transformer",
}


def run_alias(name: str, argv: Sequence[str] | None = None) -> int:
    """``name ARGS`` as ``tobigs <its command> ARGS``; ``tobigs-viz experiment`` is ``tobigs rnn-vs-transformer``."""
    words = ALIASES[name].split()
    argv = list(sys.argv[1:] if argv is None else argv)
    if name == "tobigs-viz" and argv[:1] == ["experiment"]:
        words, argv = ["rnn-vs-transformer"], argv[1:]
    return tobigs([*words, *argv], prog=name)


def train_clm(argv: Sequence[str] | None = None) -> int:
    return run_alias("tobigs-train-clm", argv)


def train_mlm(argv: Sequence[str] | None = None) -> int:
    return run_alias("tobigs-train-mlm", argv)


def train_denoising(argv: Sequence[str] | None = None) -> int:
    return run_alias("tobigs-train-denoising", argv)


def train_translation(argv: Sequence[str] | None = None) -> int:
    return run_alias("tobigs-train-translation", argv)


def train_classification(argv: Sequence[str] | None = None) -> int:
    return run_alias("tobigs-train-classification", argv)


def train_token_classification(argv: Sequence[str] | None = None) -> int:
    return run_alias("tobigs-train-token-classification", argv)


def convert(argv: Sequence[str] | None = None) -> int:
    return run_alias("tobigs-convert", argv)


def export(argv: Sequence[str] | None = None) -> int:
    return run_alias("tobigs-export", argv)


def viz(argv: Sequence[str] | None = None) -> int:
    return run_alias("tobigs-viz", argv)


def build_corpora(argv: Sequence[str] | None = None) -> int:
    return run_alias("tobigs-build-corpora", argv)


def train_tokenizer(argv: Sequence[str] | None = None) -> int:
    return run_alias("tobigs-train-tokenizer", argv)


def demo(argv: Sequence[str] | None = None) -> int:
    return run_alias("tobigs-demo", argv)


def rnn_vs_transformer(argv: Sequence[str] | None = None) -> int:
    return run_alias("tobigs-rnn-vs-transformer", argv)
