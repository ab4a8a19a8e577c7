"""``tobigs tokenizer``: train a GPT / BERT / BART / translation tokenizer and save it for ``AutoTokenizer``.

Thin command line over :mod:`tobigs_transformer.data.tokenization`::

    tobigs tokenizer --kind translation --train_file data/ko_en/train.jsonl --text_column ko en \\
        --vocab_size 16000 --output_dir tokenizers/ko-en
    tobigs tokenizer --kind wordpiece --train_file data/en/shakespeare_train.jsonl --output_dir tokenizers/bert
    tobigs tokenizer --kind gpt --dataset_name wikitext --dataset_config wikitext-2-raw-v1   # when online

``.txt`` files are read one line per text; ``.json``/``.jsonl`` files through ``datasets``' json builder, after a
check that names the file and line of anything unreadable (empty file, bytes that are not UTF-8, a malformed JSON
line) and the file, line and column of a ``--text_column`` value that is not text: null, a number, an object, or a
column missing from some rows (the check of ``tobigs train``'s data files,
:class:`~tobigs_transformer.tooling.data_files.Column`).  A column may hold a string in every row or a list of
strings (sentences) in every row, as its first row says.  Blank strings are allowed and skipped, as ``tobigs train
clm`` skips a blank document: they hold nothing to learn a vocabulary from (a corpus of nothing but blank texts is
still an error).  ``--dataset_name`` rows are checked as they are read: a null or non-string text names the dataset,
the split, the row and the column.  Exit status 2 for a bad option (unknown option, a missing file, a missing
column), 1 for a runtime failure; one line on stderr (``TOBIGS_DEBUG=1`` adds the traceback).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..tooling.cli import UsageError
from ..tooling.commands import Command, run_command
from ..tooling.data_files import Column, check_data_file
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
                                 args, args.source)
        return
    for path in args.train_file:
        if path.endswith(".txt"):
            with open(path, encoding="utf-8") as f:
                yield from (line.rstrip("\n") for line in f if line.strip())
        else:
            yield from _column_texts(datasets.load_dataset("json", data_files=[path], split="train"), args, path)


def _column_texts(ds, args: TrainTokenizerArguments, source: str) -> Iterator[str]:
    """The non-blank texts of ``--text_column`` in the rows of ``ds`` (``source``: where they come from, as errors
    name it)."""
    missing = [c for c in args.text_column if c not in ds.column_names]
    if missing:
        raise UsageError(f"--text_column: column(s) {missing} not in the data of {source} (columns: "
                         f"{ds.column_names})")
    if args.max_texts is not None:
        ds = ds.select(range(min(args.max_texts, len(ds))))
    for index, row in enumerate(ds):
        for column in args.text_column:
            value = row[column]
            texts = value if isinstance(value, list) else [value]
            if not all(isinstance(text, str) for text in texts):
                # files were checked record by record before (check_sources); a --dataset_name split is not
                raise ValueError(f"{source}: row {index}: column {column!r} is {_what(value)}; expected a string (or "
                                 "a list of strings)")
            yield from (text for text in texts if text.strip())


def _what(value) -> str:
    """What a value that is not text is, as errors say it (``null``, ``int 123``, ``a list holding null``)."""
    if value is None:
        return "null"
    if isinstance(value, list):
        return f"a list holding {_what(next(v for v in value if not isinstance(v, str)))}"
    return f"{type(value).__name__} {value!r:.40}"


def _first_record(path: str) -> dict:
    """The first record of a JSON (lines) file, or ``{}`` where it cannot be read (``check_data_file`` then says
    why, naming the line)."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            first = next((line.strip() for line in f if line.strip()), "")
            if not first.startswith("["):
                try:
                    record = json.loads(first)
                except json.JSONDecodeError:  # one pretty-printed object over several lines
                    f.seek(0)
                    record = json.load(f)
            else:
                f.seek(0)
                records = json.load(f)
                record = records[0] if records else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return record if isinstance(record, dict) else {}


def text_columns(path: str, names: list[str]) -> list[Column]:
    """What every record of a JSON (lines) file must hold for the tokenizer: each ``--text_column`` a string (blank
    allowed: it is skipped, as ``tobigs train clm`` skips a blank document) or, where the file's first record holds
    a list there, a list of strings in every record (sentences)."""
    first = _first_record(path)
    return [Column(name, "sentences") if isinstance(first.get(name), list) else Column(name, allow_empty=True)
            for name in names]


def check_sources(args: TrainTokenizerArguments) -> None:
    """Every ``--train_file`` can be read and every record of a JSON one holds text in each ``--text_column`` (file,
    line and column of the first thing that does not); the options themselves were checked when ``args`` was
    built."""
    for path in args.train_file or []:
        builder = _BUILDERS[os.path.splitext(path)[1].lower()]
        check_data_file(path, builder, text_columns(path, args.text_column) if builder == "json" else None)


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
