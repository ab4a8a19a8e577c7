"""Hub export: file list, exported code, auto_map completeness, model card metadata and model-index, CLI."""

import json
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results
from transformers.dynamic_module_utils import get_relative_import_files

import pipeline_support as support
from tobigs_transformer import AUTO_CLASSES
from tobigs_transformer.hub import (
    EXPORTED_MODULES,
    check_flat_imports,
    export_for_hub,
    exported_module_files,
    full_auto_map,
    recorded_metrics,
)
from tobigs_transformer.hub import cli
from tobigs_transformer.hub.export import PACKAGE_DIR
from tobigs_transformer.hub.model_card import PACKAGE_TEMPLATE
from tobigs_transformer.tooling.output_folders import OUTPUT_MARKER, UnsafeOutputError

METRICS = {
    "eval_bleu": 23.47, "eval_loss": 1.875, "eval_chrf": 51.2, "eval_runtime": 3.21,
    "eval_samples_per_second": 99.1, "eval_steps_per_second": 3.3, "epoch": 3.0, "test_bleu": 21.9,
    "dataset": {"id": "wmt16", "name": "WMT16 ro-en", "config": "ro-en", "split": "test"},
}
WEIGHTS_AND_CONFIG = {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "README.md"}


@pytest.fixture(scope="module")
def bart_export(tmp_path_factory):
    model, tokenizer = support.bart_seq2seq()
    folder = export_for_hub(
        model, tokenizer, tmp_path_factory.mktemp("hub") / "tobigs-bart-ro-en", metrics=METRICS, language=["ro", "en"],
        src_lang="ro", tgt_lang="en", base_model="tobigs/bart-base", tags=["lecture"],
        training_hyperparameters={"learning_rate": 5e-4, "epochs": 3}, card_template=PACKAGE_TEMPLATE,
    )
    return model, tokenizer, folder


def test_exported_modules_are_the_model_modules_only():
    names = {f.name for f in exported_module_files()}
    assert names == set(EXPORTED_MODULES)
    # the same set transformers' own import resolution finds from the entry modules
    resolved = {"modeling_tobigs.py", "modeling_electra.py", "configuration_tobigs.py", "pipeline_tobigs.py"}
    for root in ("modeling_tobigs.py", "modeling_electra.py", "configuration_tobigs.py", "pipeline_tobigs.py"):
        resolved |= {Path(f).name for f in get_relative_import_files(PACKAGE_DIR / root)}
    assert resolved == set(EXPORTED_MODULES)
    assert all(f.parent == PACKAGE_DIR for f in exported_module_files())


def test_export_file_list(bart_export):
    _, _, folder = bart_export
    files = {p.name for p in folder.iterdir()}
    # .tobigs_output.json: the export's record of what it wrote (what --overwrite may replace); push_to_hub skips it
    assert files == WEIGHTS_AND_CONFIG | {"generation_config.json", OUTPUT_MARKER} | set(EXPORTED_MODULES)
    assert not any(p.is_dir() for p in folder.iterdir())
    for name in EXPORTED_MODULES:  # verbatim copies, flat imports
        assert (folder / name).read_text() == (PACKAGE_DIR / name).read_text()
        check_flat_imports(folder / name)
    code = "".join((folder / n).read_text() for n in EXPORTED_MODULES)
    assert "Trainer(" not in code and "import datasets" not in code


@pytest.mark.parametrize("name", ["bert_mlm", "gpt2", "bart"])
def test_auto_map_lists_every_supported_auto_class(tmp_path, name):
    model, tokenizer = support.FAMILIES[name][0]()
    folder = export_for_hub(model, tokenizer, tmp_path / name)
    config = json.loads((folder / "config.json").read_text())
    arch = config["architecture"]
    expected = {auto.__name__ for auto, cls in AUTO_CLASSES.items() if arch in cls.supported_architectures}
    assert set(config["auto_map"]) == expected | {"AutoConfig"}
    assert config["auto_map"] == full_auto_map(model.config)
    assert config["auto_map"]["AutoConfig"] == "configuration_tobigs.TobigsConfig"
    for reference in config["auto_map"].values():
        module, cls = reference.split(".")
        assert f"class {cls}(" in (folder / f"{module}.py").read_text()
    assert f"modeling_tobigs.{type(model).__name__}" in config["auto_map"].values()
    assert ("custom_pipelines" in config) == (arch == "encoder-decoder")
    if name == "gpt2":
        assert set(config["auto_map"]) == {"AutoConfig", "AutoModel", "AutoModelForCausalLM",
                                           "AutoModelForSequenceClassification", "AutoModelForTokenClassification",
                                           "AutoModelForQuestionAnswering"}


def test_custom_pipelines_and_direction(bart_export):
    _, _, folder = bart_export
    config = json.loads((folder / "config.json").read_text())
    assert config["src_lang"] == "ro" and config["tgt_lang"] == "en"
    pipes = config["custom_pipelines"]
    expected = {"translation", "summarization", "text2text-generation", "translation_ro_to_en", "tobigs-translation"}
    assert expected <= set(pipes)
    assert pipes["translation"] == {"impl": "pipeline_tobigs.TobigsTranslationPipeline",
                                    "pt": ["AutoModelForSeq2SeqLM"], "type": "text"}


def test_model_card_metadata_and_model_index_round_trip(bart_export):
    _, _, folder = bart_export
    text = (folder / "README.md").read_text()
    card = ModelCard.load(folder / "README.md")
    data = card.data
    assert data.language == ["ro", "en"] and data.license == "apache-2.0"
    assert data.library_name == "transformers" and data.pipeline_tag == "translation"
    assert data.datasets == ["wmt16"] and data.base_model == ["tobigs/bart-base"]
    assert {"tobigs_transformer", "lecture", "translation"} <= set(data.tags)
    assert set(data.metrics) == {"bleu", "loss", "chrf"}
    meta = yaml.safe_load(text.split("---")[1])
    name, results = model_index_to_eval_results(meta["model-index"])
    assert name == "tobigs-bart-ro-en"
    got = {(r.metric_type, r.metric_value) for r in results}
    assert got == {(metric, value) for _, metric, value in recorded_metrics(METRICS).values()}
    assert all(r.dataset_type == "wmt16" and r.dataset_config == "ro-en" and r.task_type == "translation"
               for r in results)
    assert {r.metric_type for r in data.eval_results} == {"bleu", "loss", "chrf"}
    for section in ("## Intended use", "## Training data", "## Training procedure", "## Evaluation",
                    "## Limitations", "learning_rate: 0.0005", "| BLEU | 23.47 |", "translation_ro_to_en"):
        assert section in text, section
    assert "runtime" not in text.split("---")[1]


def test_metrics_from_trainer_json_and_default_splits(tmp_path):
    model, tokenizer = support.gpt2_lm()
    metrics_file = tmp_path / "eval_results.json"
    metrics_file.write_text(json.dumps({"eval_loss": 3.5, "eval_perplexity": 33.1, "epoch": 1.0, "test_loss": 3.7}))
    folder = export_for_hub(model, tokenizer, tmp_path / "gpt", metrics=metrics_file, dataset="wikitext")
    results = ModelCard.load(folder / "README.md").data.eval_results
    assert {(r.metric_type, r.dataset_split, r.metric_value) for r in results} == {
        ("loss", "validation", 3.5), ("perplexity", "validation", 33.1), ("loss", "test", 3.7)}
    assert ModelCard.load(folder / "README.md").data.pipeline_tag == "text-generation"


def test_export_without_metrics_and_overwrite(tmp_path):
    model, tokenizer = support.bert_mlm()
    folder = export_for_hub(model, tokenizer, tmp_path / "bert")
    data = ModelCard.load(folder / "README.md").data
    assert data.pipeline_tag == "fill-mask" and not data.eval_results
    with pytest.raises(FileExistsError):
        export_for_hub(model, tokenizer, folder)
    export_for_hub(model, tokenizer, folder, overwrite=True)  # an earlier, unchanged export is replaced
    # a file the export did not write is never deleted: the folder is refused, untouched
    (folder / "notes.txt").write_text("x")
    with pytest.raises(UnsafeOutputError, match="holds what it did not write: notes.txt"):
        export_for_hub(model, tokenizer, folder, overwrite=True)
    assert (folder / "notes.txt").read_text() == "x" and (folder / "model.safetensors").is_file()
    with pytest.raises(ValueError, match="only apply to encoder-decoder"):
        export_for_hub(model, tokenizer, tmp_path / "bad", src_lang="en", tgt_lang="de")


def test_check_flat_imports_rejects_what_remote_code_cannot_load(tmp_path):
    (tmp_path / "sibling.py").write_text("X = 1\n")
    good = tmp_path / "good.py"
    good.write_text("import torch\nfrom .sibling import X\n")
    check_flat_imports(good)
    sources = ("from . import sibling\n", "from ..pkg import x\n", "from .sub.mod import x\n",
               "from tobigs_transformer.data import x\n", "import tobigs_transformer\n", "from .missing import x\n")
    for source in sources:
        bad = tmp_path / "bad.py"
        bad.write_text(source)
        with pytest.raises(ValueError):
            check_flat_imports(bad)


def test_cli_exports_a_trained_folder(tmp_path):
    model, tokenizer = support.transformer_seq2seq()
    run_dir = tmp_path / "run"
    model.save_pretrained(run_dir)
    tokenizer.save_pretrained(run_dir)
    (run_dir / "eval_results.json").write_text(json.dumps({"eval_bleu": 7.25, "epoch": 2.0}))
    out = tmp_path / "hub"
    assert cli.main(["--model_dir", str(run_dir), "--output_dir", str(out), "--src_lang", "en", "--tgt_lang", "de",
                     "--dataset_id", "iwslt2017", "--dataset_split", "test", "--language", "en", "de",
                     "--card_template", str(PACKAGE_TEMPLATE)]) == 0
    data = ModelCard.load(out / "README.md").data
    assert data.pipeline_tag == "translation" and data.eval_results[0].metric_value == 7.25
    assert data.eval_results[0].dataset_split == "test"
    assert {p.name for p in out.iterdir()} >= set(EXPORTED_MODULES) | WEIGHTS_AND_CONFIG
