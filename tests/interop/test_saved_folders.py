"""Every folder the package writes loads where the package is not installed (issue 18.1).

`save_pretrained` of every architecture (encoder MLM / classifier / tagger, ELECTRA's joint model and discriminator,
GPT-2, Transformer-XL with memory, BART, the original Transformer) and a Trainer checkpoint are loaded in ONE clean
interpreter (tobigs_transformer not importable, `trust_remote_code=True`) with every Auto class of their `auto_map`;
outputs equal the originals' to 1e-5 and the pipelines of each architecture give what they give installed. A
remote-loaded model saves a folder that loads again, and a folder without its code fails with transformers' error
where the package is missing but loads where it is installed."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import transformers
from transformers import AutoModel, AutoModelForCausalLM, Trainer, TrainingArguments

import saved_folder_cases as folder_cases
import pipeline_cases as cases
import pipeline_support as support
from tobigs_transformer import (
    TobigsConfig,
    TobigsElectraForPreTraining,
    TobigsForCausalLM,
    TobigsForMaskedLM,
    TobigsForReplacedTokenDetection,
    TobigsForSequenceClassification,
)
from tobigs_transformer.hub import EXPORTED_MODULES, export_for_hub
from tobigs_transformer.model.pipeline_tobigs import custom_pipelines_config, register_pipelines
from tobigs_transformer.model.remote_code import AUTO_MODEL_CLASSES, auto_map_for, missing_code_files

SCRIPT = Path(__file__).resolve().parents[1] / "saved_folder_cases.py"
ENCODER_AUTO = {"AutoConfig", "AutoModel", "AutoModelForMaskedLM", "AutoModelForPreTraining",
                "AutoModelForNextSentencePrediction", "AutoModelForSequenceClassification",
                "AutoModelForTokenClassification", "AutoModelForQuestionAnswering", "AutoModelForMultipleChoice"}
DECODER_AUTO = {"AutoConfig", "AutoModel", "AutoModelForCausalLM", "AutoModelForSequenceClassification",
                "AutoModelForTokenClassification", "AutoModelForQuestionAnswering"}
SEQ2SEQ_AUTO = {"AutoConfig", "AutoModel", "AutoModelForSeq2SeqLM", "AutoModelForSequenceClassification",
                 "AutoModelForCausalLM"}  # the decoder alone, as BartForCausalLM


def electra_joint():
    tok = support.bert_tokenizer()
    torch.manual_seed(7)
    return TobigsElectraForPreTraining(support.config("electra-small", tok)).eval(), tok


def electra_discriminator():
    model, tok = electra_joint()
    return model.discriminator, tok


# name: (builder, pipeline kind or None, Auto classes its folder must name, re-save it in the clean run)
MODELS = {
    "bert_mlm": (support.bert_mlm, "fill-mask", ENCODER_AUTO, False),
    "bert_cls": (support.bert_classifier, "text-classification", ENCODER_AUTO, False),
    "bert_tok": (support.bert_tagger, "token-classification", ENCODER_AUTO, False),
    "electra_joint": (electra_joint, None, {"AutoConfig", "AutoModelForPreTraining"}, True),
    "electra_rtd": (electra_discriminator, None, ENCODER_AUTO, False),
    "gpt2": (support.gpt2_lm, "text-generation", DECODER_AUTO, False),
    "transformer_xl": (support.transformer_xl_lm, "text-generation", DECODER_AUTO, False),
    "bart": (support.bart_seq2seq, "seq2seq", SEQ2SEQ_AUTO, True),
    "transformer": (support.transformer_seq2seq, "seq2seq", SEQ2SEQ_AUTO, False),
}


def _encoding(tokenizer):
    return dict(tokenizer(folder_cases.TEXT, return_tensors="pt"))


def trainer_checkpoint(root: Path):
    """A TobigsForCausalLM trained 2 Trainer steps with save_steps=1: returns (model, tokenizer, checkpoint-2)."""
    model, tok = support.gpt2_lm()
    ids = [tok(text)["input_ids"][:12] for text in support.CORPUS[:8]]
    data = [{"input_ids": i, "labels": i} for i in ids if len(i) == 12]
    args = TrainingArguments(output_dir=str(root / "run"), max_steps=2, save_steps=1, per_device_train_batch_size=2,
                             use_cpu=True, report_to="none", logging_steps=1, save_strategy="steps",
                             disable_tqdm=True)
    Trainer(model=model.train(), args=args, train_dataset=data, processing_class=tok).train()
    return model.eval(), tok, root / "run" / "checkpoint-2"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Every folder saved here, the original outputs, and the clean interpreter's results: one subprocess."""
    register_pipelines()
    transformers.logging.set_verbosity_error()
    root = tmp_path_factory.mktemp("saved")
    folders, expected, entries = {}, {}, []
    for name, (builder, kind, _, resave) in MODELS.items():
        model, tokenizer = builder()
        folder = root / name
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        folders[name] = folder
        expected[name] = {"own": folder_cases.outputs(model, _encoding(tokenizer))}
        entry = {"name": name, "model": str(folder), "kind": kind}
        if kind:
            expected[name].update(cases._pipeline_cases({"name": name, "model": model, "tokenizer": tokenizer,
                                                          "kind": kind}, None))
        if resave:
            entry["resave"] = str(root / f"{name}-resaved")
        entries.append(entry)
    model, tokenizer, checkpoint = trainer_checkpoint(root)
    folders["checkpoint"] = checkpoint
    expected["checkpoint"] = {"own": folder_cases.outputs(TobigsForCausalLM.from_pretrained(checkpoint).eval(),
                                                          _encoding(tokenizer))}
    entries.append({"name": "checkpoint", "model": str(checkpoint), "kind": None})
    # a folder whose config names code it does not hold
    no_code = root / "no_code"
    shutil.copytree(folders["gpt2"], no_code)
    for file in no_code.glob("*.py"):
        file.unlink()
    folders["no_code"] = no_code
    entries.append({"name": "no_code", "model": str(no_code), "missing_code": True})

    spec, out = root / "spec.json", root / "out.json"
    spec.write_text(json.dumps(entries))
    env = support.clean_env(root)
    env["PYTHONPATH"] = str(SCRIPT.parent)  # the case scripts only; the package stays unimportable
    proc = subprocess.run([sys.executable, str(SCRIPT), str(spec), str(out)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"clean-environment run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return folders, expected, json.loads(out.read_text())


def test_clean_interpreter_ran_the_saved_code_only(saved):
    _, _, actual = saved
    assert actual["_modules"] and all(m.startswith("transformers_modules.") for m in actual["_modules"])


@pytest.mark.parametrize("name", list(MODELS) + ["checkpoint"])
def test_folder_names_every_auto_class_and_holds_its_code(saved, name):
    folders, _, _ = saved
    folder = folders[name]
    config = json.loads((folder / "config.json").read_text())
    wanted = MODELS[name][2] if name in MODELS else DECODER_AUTO
    assert set(config["auto_map"]) == wanted
    model_class = getattr(__import__("tobigs_transformer"), config["architectures"][0])
    assert config["auto_map"] == auto_map_for(model_class, TobigsConfig.from_pretrained(folder))
    assert {p.name for p in folder.glob("*.py")} == set(EXPORTED_MODULES)
    assert missing_code_files(folder, config) == []  # every reference points to a file that is there ...
    for reference in config["auto_map"].values():  # ... and that defines the class
        module, cls = reference.rsplit(".", 1)
        assert f"class {cls}(" in (folder / f"{module}.py").read_text()
    if config["is_encoder_decoder"] and name in MODELS:
        assert config["custom_pipelines"] == custom_pipelines_config()
    else:
        assert "custom_pipelines" not in config


@pytest.mark.parametrize("name", list(MODELS) + ["checkpoint"])
def test_every_auto_class_loads_the_saved_weights_remotely(saved, name):
    _, expected, actual = saved
    result = actual[name]["auto"]
    assert result["config_class"].startswith("transformers_modules.")
    assert set(result["loaded"]) == set(result["auto_map"]) - {"AutoConfig"}
    assert all(cls.startswith("transformers_modules.") for cls in result["loaded"].values())
    own = expected[name]["own"]
    for key in own:
        support.assert_close_results(result["own"][key], own[key], f"{name}.{key}", 1e-5)
    for auto_name, hidden in result["hidden"].items():  # no head starts from random weights
        support.assert_close_results(hidden, own["hidden"], f"{name}.{auto_name}.hidden", 1e-5)


@pytest.mark.parametrize("name", [n for n, spec in MODELS.items() if spec[1]])
def test_pipelines_from_the_saved_folder_match_installed(saved, name):
    _, expected, actual = saved
    tasks = {k: v for k, v in expected[name].items() if k != "own"}
    assert tasks
    for task, result in tasks.items():
        support.assert_close_results(actual[name][task], result, f"{name}.{task}")
    if MODELS[name][1] == "seq2seq":
        assert set(tasks) >= {"translation", "summarization", "text2text-generation", "tobigs-translation"}


def test_pretrained_mlm_fine_tunes_as_classifier_remotely(saved):
    """The issue's case: run_classification.py loads a pre-trained MLM with AutoModelForSequenceClassification."""
    _, _, actual = saved
    loaded = actual["bert_mlm"]["auto"]["loaded"]
    assert loaded["AutoModelForSequenceClassification"].endswith(".modeling_tobigs.TobigsForSequenceClassification")
    assert loaded["AutoModel"].endswith(".modeling_tobigs.TobigsModel")


@pytest.mark.parametrize("name", ["bart", "electra_joint"])
def test_remote_loaded_model_saves_a_complete_folder(saved, name):
    folders, expected, actual = saved
    again = actual[name]["auto"]["resaved"]
    assert again["auto_map"] == actual[name]["auto"]["auto_map"]
    for key, value in expected[name]["own"].items():
        support.assert_close_results(again["own"][key], value, f"{name}.resaved.{key}", 1e-5)
    resaved = folders[name].parent / f"{name}-resaved"
    assert {p.name for p in resaved.glob("*.py")} == set(EXPORTED_MODULES)


def test_electra_joint_folder_names_only_the_class_that_reads_it(saved):
    folders, _, actual = saved
    assert actual["electra_joint"]["auto"]["loaded"] == {
        "AutoModelForPreTraining": actual["electra_joint"]["auto"]["loaded"]["AutoModelForPreTraining"]}
    assert actual["electra_joint"]["auto"]["loaded"]["AutoModelForPreTraining"].endswith(
        ".modeling_electra.TobigsElectraForPreTraining")
    assert actual["electra_rtd"]["auto"]["loaded"]["AutoModelForPreTraining"].endswith(
        ".modeling_tobigs.TobigsForReplacedTokenDetection")


def test_folder_without_code_fails_clean_but_loads_installed(saved, tmp_path):
    folders, expected, actual = saved
    error = actual["no_code"]["error"]
    # transformers' own error, naming the file it misses
    assert error.startswith("OSError: ") and "does not appear to have a file named configuration_tobigs.py" in error
    # installed: the package's classes load it, and an export of it is complete again
    model = AutoModelForCausalLM.from_pretrained(folders["no_code"])
    assert type(model) is TobigsForCausalLM
    with torch.no_grad():
        logits = model(**_encoding(support.gpt_tokenizer())).logits
    support.assert_close_results(logits.tolist(), expected["gpt2"]["own"]["logits"], "no_code.logits", 1e-5)
    out = export_for_hub(model, support.gpt_tokenizer(), tmp_path / "hub")
    assert missing_code_files(out, json.loads((out / "config.json").read_text())) == []


def test_save_leaves_the_config_object_as_it_was(tmp_path):
    model, _ = support.bert_mlm()
    before = model.config.to_dict()
    model.save_pretrained(tmp_path / "a")
    assert model.config.to_dict() == {**before, "architectures": ["TobigsForMaskedLM"], "dtype": "float32"}
    assert "auto_map" not in model.config.__dict__ and "custom_pipelines" not in model.config.__dict__


def test_shared_config_saves_each_class_with_its_own_auto_map(tmp_path):
    """ELECTRA's joint model and its discriminator share one config object; each folder gets its own map."""
    joint, _ = electra_joint()
    joint.save_pretrained(tmp_path / "joint")
    joint.discriminator.save_pretrained(tmp_path / "disc")
    joint_map = json.loads((tmp_path / "joint" / "config.json").read_text())["auto_map"]
    disc_map = json.loads((tmp_path / "disc" / "config.json").read_text())["auto_map"]
    assert set(joint_map) == {"AutoConfig", "AutoModelForPreTraining"}
    assert set(disc_map) == ENCODER_AUTO
    assert disc_map["AutoModelForPreTraining"] == "modeling_tobigs.TobigsForReplacedTokenDetection"
    loaded = TobigsForSequenceClassification.from_pretrained(tmp_path / "disc")
    assert torch.equal(loaded.model.encoder.embeddings.word_embeddings.weight,
                       joint.discriminator.model.encoder.embeddings.word_embeddings.weight)


def test_auto_map_table_matches_the_registered_classes():
    import tobigs_transformer

    assert {auto.__name__: cls.__name__ for auto, cls in tobigs_transformer.AUTO_CLASSES.items()} == \
        AUTO_MODEL_CLASSES
    assert type(AutoModel.from_config(TobigsConfig.from_preset("gpt2", **support.TINY, vocab_size=50))).__name__ == \
        "TobigsModel"
    assert TobigsForMaskedLM.__name__ in AUTO_MODEL_CLASSES.values()
    assert TobigsForReplacedTokenDetection.__name__ not in AUTO_MODEL_CLASSES.values()


@pytest.mark.slow
def test_train_cli_output_and_checkpoints_have_the_full_auto_map(tmp_path):
    """`tobigs train clm`: the final --output_dir and every checkpoint-N are complete remote-code folders."""
    from fixtures.helpers import COMMON, TINY, path, tokenizers

    from tobigs_transformer.training import run_clm

    out = tmp_path / "run"
    common = list(COMMON)
    common[common.index("--save_strategy") + 1] = "steps"
    run_clm.main(["--preset", "transformer-xl", "--config_overrides", TINY + ",mem_len=8", "--tokenizer_name",
                  tokenizers()["gpt"], "--train_file", path("en_train.txt"), "--block_size", "16", "--do_train",
                  "--max_steps", "2", "--save_steps", "1", "--output_dir", str(out), *common])
    folders = [out, out / "checkpoint-1", out / "checkpoint-2"]
    for folder in folders:
        config = json.loads((folder / "config.json").read_text())
        assert set(config["auto_map"]) == DECODER_AUTO, folder
        assert {p.name for p in folder.glob("*.py")} == set(EXPORTED_MODULES), folder
        assert missing_code_files(folder, config) == []
