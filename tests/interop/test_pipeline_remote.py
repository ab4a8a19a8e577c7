"""Every pipeline task and every Auto class from exported folders in a clean interpreter (tobigs_transformer not
importable, HF_HUB_OFFLINE=1, own HF_MODULES_CACHE), compared with the original models in this process."""

import pytest
import transformers

import pipeline_cases as cases
import pipeline_support as support
from tobigs_transformer.model.pipeline_tobigs import register_pipelines


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    register_pipelines()
    transformers.logging.set_verbosity_error()
    tmp = tmp_path_factory.mktemp("remote")
    objects, folders = support.build_entries(tmp / "exports")
    expected = cases.run_cases(objects)
    actual = support.run_cases_clean(tmp, folders)
    return expected, actual


def test_clean_environment_never_imported_the_package(runs):
    _, actual = runs
    assert actual["_modules"], "the exported code was not loaded as remote code"
    assert all(m.startswith("transformers_modules.") for m in actual["_modules"])


@pytest.mark.parametrize("name", list(support.FAMILIES))
def test_every_auto_class_loads_remote_code(runs, name):
    _, actual = runs
    loaded = actual[name]["auto"]["loaded"]
    assert actual[name]["auto"]["config_class"].startswith("transformers_modules.")
    assert loaded and all(cls.startswith("transformers_modules.") for cls in loaded.values())
    assert "AutoModel" in loaded


@pytest.mark.parametrize("name", list(support.FAMILIES))
def test_remote_outputs_match_original(runs, name):
    expected, actual = runs
    support.assert_close_results(actual[name]["auto"]["logits"], expected[name]["auto"]["logits"], "logits", 1e-5)
    support.assert_close_results(actual[name]["auto"]["hidden"], expected[name]["auto"]["hidden"], "hidden", 1e-5)


@pytest.mark.parametrize("name", list(support.FAMILIES))
def test_remote_pipelines_match_installed(runs, name):
    expected, actual = runs
    tasks = {k: v for k, v in expected[name].items() if k != "auto"}
    assert tasks
    for task, result in tasks.items():
        support.assert_close_results(actual[name][task], result, f"{name}.{task}")


def test_remote_text_generation_left_padded_batch(runs):
    _, actual = runs
    result = actual["gpt2"]["text-generation"]
    assert result["batched"] == result["single"]


@pytest.mark.parametrize("name", ["bart", "transformer"])
def test_remote_seq2seq_beam_batching(runs, name):
    _, actual = runs
    translation = actual[name]["translation"]
    assert translation["beam_batched"] == translation["beam_single"]
    assert len(translation["two_sequences"]) == 2
    pair = "translation_{}_to_{}".format(*support.TRANSLATION_PAIRS[name])
    assert actual[name][pair] == actual[name]["tobigs-translation"]  # same pipeline under both names
    assert all("summary_text" in r for r in actual[name]["summarization"])
    assert all("generated_text" in r for r in actual[name]["text2text-generation"])
