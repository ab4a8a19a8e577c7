"""The records of `tobigs train` data files: one table (training/validation.py `data_columns`) says what every task
reads, and tooling/data_files.py checks every record against it before anything loads.  Here: every command's data
arguments get a table, the fixtures every training test uses pass it, and what is legitimately absent or blank (a
test file without labels, a blank causal-LM document, a column no record has, which the recipe names with the
columns present) is not refused.  The refusals themselves are rows of tests/faults/test_faults_data.py."""

import importlib
import json
import pkgutil

import pytest
from fixtures.helpers import path

import tobigs_transformer.training as training
from tobigs_transformer.tooling.data_files import Column, DataFileError, check_data_file
from tobigs_transformer.training.arguments import DataArguments
from tobigs_transformer.training.run_classification import ClassificationDataArguments
from tobigs_transformer.training.run_clm import CLMDataArguments
from tobigs_transformer.training.run_denoising import DenoisingDataArguments
from tobigs_transformer.training.run_mlm import MLMDataArguments
from tobigs_transformer.training.run_token_classification import TokenClassificationDataArguments
from tobigs_transformer.training.run_translation import Seq2SeqDataArguments
from tobigs_transformer.training.validation import data_columns


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _write(tmp_path, name: str, rows) -> str:
    target = tmp_path / name
    target.write_text(rows if isinstance(rows, str) else "".join(json.dumps(r) + "\n" for r in rows),
                      encoding="utf-8")
    return str(target)


def test_every_training_command_declares_what_its_records_hold():
    for module in pkgutil.iter_modules(training.__path__):
        if module.name.startswith("run_"):
            importlib.import_module(f"{training.__name__}.{module.name}")
    commands = [cls for cls in _subclasses(DataArguments) if cls.__module__.split(".")[-1].startswith("run_")]
    assert len(commands) >= 6
    for cls in commands:
        args = cls(**({"source_lang": "ko", "target_lang": "en"} if cls is Seq2SeqDataArguments else {}))
        assert data_columns(args) is not None, f"{cls.__name__} reads data files without a record check"


def test_the_table_per_task():
    cls_args = ClassificationDataArguments(text_pair_column="hypothesis")
    assert data_columns(cls_args) == [Column("text"), Column("hypothesis"), Column("label", "label")]
    assert data_columns(cls_args, "test_file")[-1] == Column("label", "label", optional=True)
    assert data_columns(TokenClassificationDataArguments(), "test_file") == [
        Column("tokens", "words"), Column("tags", "tags", optional=True, same_length_as="tokens")]
    assert data_columns(CLMDataArguments(control_code_column="domain")) == [Column("text", allow_empty=True),
                                                                            Column("domain")]
    translation = data_columns(Seq2SeqDataArguments(source_lang="ko", target_lang="en"))
    assert translation(["ko", "en"]) == [Column("ko"), Column("en")]
    assert translation(["translation"]) == [Column("translation", key="ko"), Column("translation", key="en")]
    summaries = data_columns(Seq2SeqDataArguments(task="summarization"))
    assert summaries(["document", "summary", "id"]) == [Column("document"), Column("summary")]
    for args in (MLMDataArguments(), DenoisingDataArguments()):
        documents = data_columns(args)
        assert documents(["sentences"]) == [Column("sentences", "sentences")]
        assert documents(["text"]) == [Column("text", allow_empty=True)]


@pytest.mark.parametrize("args, files", [
    (ClassificationDataArguments(), ["cls_train.jsonl", "cls_validation.jsonl"]),
    (TokenClassificationDataArguments(), ["ner_train.jsonl", "ner_validation.jsonl"]),
    (Seq2SeqDataArguments(source_lang="ko", target_lang="en"),
     ["ko_en_train.jsonl", "ko_en_validation.jsonl", "ko_en_pairs.jsonl"]),
    (MLMDataArguments(), ["docs_train.jsonl", "docs_validation.jsonl"]),
    (DenoisingDataArguments(), ["docs_train.jsonl", "docs_validation.jsonl"]),
])
def test_the_fixtures_pass(args, files):
    for name in files:
        check_data_file(path(name), "json", data_columns(args))


def test_what_may_be_absent_or_blank_is_not_refused(tmp_path):
    # a test file without labels in every row: predictions only
    untagged = _write(tmp_path, "test.jsonl", [{"tokens": ["Bob", "went"]}, {"tokens": ["Ann"], "tags": None}])
    check_data_file(untagged, "json", data_columns(TokenClassificationDataArguments(), "test_file"))
    # a blank causal-LM document is skipped by the tokenisation, in JSON lines and in CSV
    clm = data_columns(CLMDataArguments())
    check_data_file(_write(tmp_path, "blank.jsonl", [{"text": "abc"}, {"text": ""}]), "json", clm)
    check_data_file(_write(tmp_path, "blank.csv", "text,source\nabc,a\n,b\n"), "csv", clm)
    # a column that no record holds is the recipe's to name, with the columns the file has
    check_data_file(_write(tmp_path, "body.jsonl", [{"body": "a"}, {"body": "b"}]), "json", clm)


def test_lines_of_records_spread_over_several_lines(tmp_path):
    columns = [Column("text"), Column("label", "label")]
    document = '[\n  {"text": "a",\n   "label": 1},\n\n  {"text": "b",\n   "label": 0}, {"text": "",\n "label": 1}\n]\n'
    with pytest.raises(DataFileError, match=r"array\.json:6: column 'text' is an empty string"):
        check_data_file(_write(tmp_path, "array.json", document), "json", columns)
    pretty = '\n{\n  "text": "a",\n  "label": true\n}\n'
    with pytest.raises(DataFileError, match=r"pretty\.json:2: column 'label' is a boolean \(true\)"):
        check_data_file(_write(tmp_path, "pretty.json", pretty), "json", columns)


def test_a_record_error_is_never_mistaken_for_a_pretty_printed_document(tmp_path):
    # a .json file of JSON lines: a bad value is reported as such, not as 'malformed JSON line' of a document
    rows = _write(tmp_path, "rows.json", [{"text": "a", "label": 1}, {"text": "b", "label": [1]}])
    with pytest.raises(DataFileError, match=r"rows\.json:2: column 'label' is an array; expected a label"):
        check_data_file(rows, "json", [Column("text"), Column("label", "label")])


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="Column kind 'number' is unknown"):
        Column("x", "number")
