"""``tobigs tokenizer``: train a GPT / BERT / BART / translation tokenizer and save it for ``AutoTokenizer``.

Thin command line over :mod:`tobigs_transformer.data.tokenization`::

    tobigs tokenizer --kind translation --train_file data/ko_en/train.jsonl --text_column ko en \\
        --vocab_size 16000 --output_dir tokenizers/ko-en
    tobigs tokenizer --kind wordpiece --train_file data/en/shakespeare_train.jsonl --output_dir tokenizers/bert
    tobigs tokenizer --kind gpt --dataset_name wikitext --dataset_config wikitext-2-raw-v1   # when online

``.txt`` files are read one line per text; ``.json``/``.jsonl`` files through ``datasets``' json builder, after a
check that names the file and line of anything unreadable (empty file, bytes that are not UTF-8, a malformed JSON
line).  Exit status 2 for a bad option (unknown option, a missing file, a missing column), 1 for a runtime failure;
one line on stderr (``TOBIGS_DEBUG=1`` adds the traceback).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..tooling.cli import UsageError
from ..tooling.commands import Command, run_command
from ..tooling.data_files import check_data_file
from .tokenization import TOKENIZER_KINDS, train_tokenizer

_BUILDERS = {".txt": "text", ".json": "json", ".jsonl": "json"}


@dataclass
class TrainTokenizerArguments:
    kind: str = field(default="bart", metadata={"help": f"One of {TOKENIZER_KINDS}."})
    output_dir: str = field(
        default="tokenizer", metadata={"help": "Folder for tokenizer.json + tokenizer_config.json."}
    )
    train_file: list[str] | None = field(default=None, metadata={"help": "Local .txt/.json/.jsonl files (offline)."})
    dataset_name: str | None = field(default=None, metadata={"help": "A `datasets` dataset name (needs the Hub)."})
    dataset_config: str | None = field(default=None, metadata={"help": "Its configuration name."})
    split: str = field(default="train", metadata={"help": "Split to read."})
    text_column: list[str] = field(
        default_factory=lambda: ["text"],
        metadata={"help": "Column(s) holding text; give both languages (e.g. ko en) for a shared vocabulary."},
    )
    vocab_size: int = field(default=8000, metadata={"help": "Target vocabulary size."})
    min_frequency: int = field(default=2, metadata={"help": "Minimum pair/word frequency (BPE, WordPiece)."})
    max_texts: int | None = field(default=None, metadata={"help": "Use at most this many rows."})
    lowercase: bool = field(default=False, metadata={"help": "WordPiece only: lowercase (uncased BERT)."})
    model: str = field(default="unigram", metadata={"help": "Translation only: unigram or bpe."})

    def __post_init__(self):
        """Exactly one source, a known kind, and local files that exist with a known extension."""
        if (self.train_file is None) == (self.dataset_name is None):
            raise UsageError("give exactly one of --train_file or --dataset_name")
        if self.kind not in TOKENIZER_KINDS:
            raise UsageError(f"--kind {self.kind!r} is not one of {list(TOKENIZER_KINDS)}")
        for path in self.train_file or []:
            if not os.path.exists(path):
                raise UsageError(f"--train_file {path!r}: no such file")
            if os.path.isdir(path):
                raise UsageError(f"--train_file {path!r} is a directory; give a data file")
            if os.path.splitext(path)[1].lower() not in _BUILDERS:
                raise UsageError(f"--train_file {path!r}: use one of {sorted(_BUILDERS)}")

    @property
    def source(self) -> str:
        """Where the texts come from, as errors name it (the files, or the dataset and split)."""
        if self.train_file:
            return ", ".join(self.train_file)
        return f"dataset {self.dataset_name!r} ({self.dataset_config or 'default'}, split {self.split!r})"


def iter_texts(args: TrainTokenizerArguments) -> Iterator[str]:
    """Yield texts from ``--train_file`` (txt: lines; json/jsonl: ``--text_column`` values, each file read on its own
    so that files with different columns can be mixed) or ``--dataset_name``; at most ``--max_texts`` rows."""
    import datasets

    if (args.train_file is None) == (args.dataset_name is None):
        raise UsageError("give exactly one of --train_file or --dataset_name")
    if args.dataset_name is not None:
        yield from _column_texts(datasets.load_dataset(args.dataset_name, args.dataset_config, split=args.split),
                                 args, "")
        return
    for path in args.train_file:
        if path.endswith(".txt"):
            with open(path, encoding="utf-8") as f:
                yield from (line.rstrip("\n") for line in f if line.strip())
        else:
            yield from _column_texts(datasets.load_dataset("json", data_files=[path], split="train"), args,
                                     f" of {path}")


def _column_texts(ds, args: TrainTokenizerArguments, where: str) -> Iterator[str]:
    missing = [c for c in args.text_column if c not in ds.column_names]
    if missing:
        raise UsageError(f"--text_column: column(s) {missing} not in the data{where} (columns: {ds.column_names})")
    if args.max_texts is not None:
        ds = ds.select(range(min(args.max_texts, len(ds))))
    for row in ds:
        for column in args.text_column:
            value = row[column]
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str) and text.strip():
                    yield text


def check_sources(args: TrainTokenizerArguments) -> None:
    """Every ``--train_file`` can be read (file and line of the first unreadable thing otherwise); the options
    themselves were checked when ``args`` was built."""
    for path in args.train_file or []:
        check_data_file(path, _BUILDERS[os.path.splitext(path)[1].lower()])


def train(args: TrainTokenizerArguments) -> int:
    check_sources(args)
    extra = {}
    if args.kind == "wordpiece":
        extra["lowercase"] = args.lowercase
    if args.kind == "translation":
        extra["model"] = args.model
    tokenizer = train_tokenizer(
        args.kind, iter_texts(args), vocab_size=args.vocab_size, min_frequency=args.min_frequency,
        save_dir=args.output_dir, source=args.source, **extra,
    )
    sample = "투빅아, 나는 너를 많이 사랑해. Tobigs, I love you so much."
    ids = tokenizer(sample)["input_ids"]
    print(f"kind={args.kind} vocab={len(tokenizer)} saved to {args.output_dir}")
    print(f"{sample!r} -> {len(ids)} tokens: {tokenizer.convert_ids_to_tokens(ids)[:16]}")
    print(f"round trip exact: {tokenizer.decode(ids, skip_special_tokens=True) == sample}")
    return 0


COMMAND = Command(arguments=(TrainTokenizerArguments,), run=train, description=__doc__)


def main(argv: list[str] | None = None) -> int:
    """``tobigs tokenizer`` under its previous name ``tobigs-train-tokenizer`` (exit status 0, 1 or 2)."""
    return run_command(COMMAND, "tobigs-train-tokenizer", argv)


if __name__ == "__main__":
    sys.exit(main())
