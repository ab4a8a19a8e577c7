"""Pipelines with the package installed and imported: built-in tasks with our models (objects and exported folders)
and the package's own seq2seq pipelines under the built-in names removed from transformers v5."""

import pytest
import torch
import transformers
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, pipeline
from transformers import pipelines as hf_pipelines

import pipeline_cases as cases
import pipeline_support as support
from tobigs_transformer.hub import export_for_hub
from tobigs_transformer.model.pipeline_tobigs import (
    TobigsSummarizationPipeline,
    TobigsText2TextGenerationPipeline,
    TobigsTranslationPipeline,
    register_pipelines,
)

GEN = dict(max_new_tokens=6, min_new_tokens=2)


@pytest.fixture(scope="module", autouse=True)
def _registered():
    register_pipelines()
    transformers.logging.set_verbosity_error()


@pytest.fixture(scope="module")
def bart():
    return support.bart_seq2seq()


def direct_generate(model, tokenizer, texts, **kwargs):
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    return tokenizer.decode(model.generate(**batch, **kwargs).tolist(), skip_special_tokens=True)


def test_registration_is_idempotent_and_narrow():
    register_pipelines()
    register_pipelines()
    for task in ("translation", "summarization", "text2text-generation"):
        assert task not in hf_pipelines.REMOVED_TASKS
        assert hf_pipelines.PIPELINE_REGISTRY.supported_tasks[task]["pt"] == (AutoModelForSeq2SeqLM,)
        assert f"tobigs-{task}" in hf_pipelines.PIPELINE_REGISTRY.supported_tasks
    assert "question-answering" in hf_pipelines.REMOVED_TASKS  # only our three come back
    task, impl, options = hf_pipelines.check_task("translation_en_to_de")
    assert impl["impl"] is TobigsTranslationPipeline and options == ("en", "de")
    with pytest.raises(KeyError):
        hf_pipelines.check_task("no-such-task")


@pytest.mark.parametrize(
    "task, cls, key",
    [
        ("translation", TobigsTranslationPipeline, "translation_text"),
        ("translation_en_to_de", TobigsTranslationPipeline, "translation_text"),
        ("summarization", TobigsSummarizationPipeline, "summary_text"),
        ("text2text-generation", TobigsText2TextGenerationPipeline, "generated_text"),
        ("tobigs-translation", TobigsTranslationPipeline, "translation_text"),
        ("tobigs-summarization", TobigsSummarizationPipeline, "summary_text"),
        ("tobigs-text2text-generation", TobigsText2TextGenerationPipeline, "generated_text"),
    ],
)
def test_seq2seq_task_names(bart, task, cls, key):
    model, tokenizer = bart
    pipe = pipeline(task, model=model, tokenizer=tokenizer)
    assert type(pipe) is cls
    out = pipe("the cat sat on a mat", **GEN)
    assert isinstance(out, list) and len(out) == 1 and set(out[0]) == {key}
    assert out[0][key] == direct_generate(model, tokenizer, ["the cat sat on a mat"], **GEN)[0]


def test_seq2seq_beam_search_batching_and_lengths(bart):
    model, tokenizer = bart
    pipe = pipeline("translation", model=model, tokenizer=tokenizer)
    texts = cases.TEXTS
    batched = pipe(texts, num_beams=3, batch_size=2, **GEN)
    single = [pipe(t, num_beams=3, **GEN)[0] for t in texts]
    assert batched == single
    assert [r["translation_text"] for r in single] == [
        direct_generate(model, tokenizer, [t], num_beams=3, **GEN)[0] for t in texts
    ]
    ids = pipe(texts[0], return_tensors=True, return_text=False, max_new_tokens=4, min_new_tokens=4)[0]
    assert set(ids) == {"translation_token_ids"} and len(ids["translation_token_ids"]) == 1 + 4  # start token + 4
    both = pipe(texts, num_beams=3, num_return_sequences=2, **GEN)
    assert len(both) == 3 and all(len(r) == 2 for r in both)
    # construction-time generation parameters apply to every call
    assert pipeline("translation", model=model, tokenizer=tokenizer, num_beams=3, **GEN)(texts) == batched


def test_translation_languages_and_prefix(bart):
    model, tokenizer = bart
    pipe = pipeline("translation_en_to_de", model=model, tokenizer=tokenizer, prefix="{src_lang} {tgt_lang} ")
    expected = direct_generate(model, tokenizer, ["en de the cat"], **GEN)[0]
    assert pipe("the cat", **GEN)[0]["translation_text"] == expected
    # call arguments override the task name's pair
    expected = direct_generate(model, tokenizer, ["fr ko the cat"], **GEN)[0]
    assert pipe("the cat", src_lang="fr", tgt_lang="ko", **GEN)[0]["translation_text"] == expected
    # without a prefix and without a recorded direction, the pair is ignored
    plain = pipeline("translation", model=model, tokenizer=tokenizer)
    assert plain("the cat", src_lang="xx", tgt_lang="yy", **GEN) == plain("the cat", **GEN)
    with pytest.raises(ValueError, match="needs src_lang and tgt_lang"):
        plain("the cat", prefix="translate {src_lang} to {tgt_lang}: ", **GEN)


def test_translation_rejects_another_direction(tmp_path, bart):
    model, tokenizer = bart
    folder = export_for_hub(model, tokenizer, tmp_path / "ro-en", src_lang="ro", tgt_lang="en")
    pipe = pipeline("translation_ro_to_en", model=str(folder), trust_remote_code=True)
    assert pipe("the cat", **GEN)[0]["translation_text"] == direct_generate(model, tokenizer, ["the cat"], **GEN)[0]
    with pytest.raises(ValueError, match="this model translates ro -> en"):
        pipe("the cat", src_lang="de", **GEN)


def test_seq2seq_needs_an_encoder_decoder():
    model, tokenizer = support.gpt2_lm()
    with pytest.raises(ValueError, match="needs an encoder-decoder model"):
        pipeline("summarization", model=model, tokenizer=tokenizer)


def test_seq2seq_truncation(bart):
    model, tokenizer = bart
    pipe = pipeline("summarization", model=model, tokenizer=tokenizer)
    long_text = " ".join(["the cat sat on a mat"] * 40)  # longer than max_position_embeddings=64
    with pytest.raises(Exception):
        pipe(long_text, **GEN)
    assert pipe(long_text, truncation=True, **GEN)[0]["summary_text"] == direct_generate(
        model, tokenizer, [tokenizer.decode(tokenizer(long_text, truncation=True, max_length=64).input_ids,
                                            skip_special_tokens=True)], **GEN
    )[0]


def test_default_generation_length_fits_positions(bart):
    model, tokenizer = bart
    pipe = pipeline("text2text-generation", model=model, tokenizer=tokenizer)
    assert pipe._generation_defaults["max_new_tokens"] <= model.config.max_position_embeddings - 1
    ids = pipe("the cat", return_tensors=True)[0]["generated_token_ids"]
    assert len(ids) <= model.config.max_position_embeddings


@pytest.fixture(scope="module")
def installed_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("installed")
    objects, folders = support.build_entries(tmp / "exports")
    for entry in folders:
        if entry["kind"] == "seq2seq":
            entry["trust_remote_code"] = True  # a folder with custom_pipelines: see test_folder_seq2seq_* below
        entry["all_auto"] = False
    return cases.run_cases(objects), cases.run_cases(folders), {e["name"]: e for e in folders}


@pytest.mark.parametrize("name", list(support.FAMILIES))
def test_builtin_and_seq2seq_pipelines_from_objects_and_folders(installed_runs, name):
    from_objects, from_folders, _ = installed_runs
    for task, result in from_objects[name].items():
        if task != "auto":
            support.assert_close_results(from_folders[name][task], result, f"{name}.{task}")
    # installed and imported: the package's classes serve the folder, not the exported copies
    assert all(c.startswith("tobigs_transformer.") for c in from_folders[name]["auto"]["loaded"].values())
    support.assert_close_results(from_folders[name]["auto"]["logits"], from_objects[name]["auto"]["logits"])


def test_builtin_pipeline_semantics(installed_runs):
    from_objects, _, _ = installed_runs
    fill = from_objects["bert_mlm"]["fill-mask"]
    assert len(fill) == 3 and fill[0][1] >= fill[1][1] >= fill[2][1]
    features = torch.tensor(from_objects["bert_mlm"]["feature-extraction"])
    assert features.shape[0] == 1 and features.shape[-1] == 32
    classification = from_objects["bert_cls"]["text-classification"]
    assert len(classification) == 3
    assert all({label for label, _ in r} == {"negative", "neutral", "positive"} for r in classification)
    # a sentence pair differs from the other pair: token_type_ids and the second segment reach the model
    assert classification[0] != classification[1]
    entities = from_objects["bert_tok"]["token-classification"]
    assert all(e[0] in {"ANIMAL", "PLACE", "O"} for sentence in entities for e in sentence)
    generation = from_objects["gpt2"]["text-generation"]
    assert generation["batched"] == generation["single"]  # left-padded batch == one at a time


def test_text_pair_uses_token_type_ids():
    model, tokenizer = support.bert_classifier()
    pipe = pipeline("text-classification", model=model, tokenizer=tokenizer)
    seen = {}
    forward = model.forward

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return forward(*args, **kwargs)

    model.forward = spy
    try:
        pipe({"text": "the cat", "text_pair": "the dog"})
    finally:
        del model.forward
    assert seen["token_type_ids"].tolist()[0][-3:] == [1, 1, 1]


def test_folder_seq2seq_with_the_package_installed(installed_runs):
    _, _, folders = installed_runs
    folder = folders["bart"]["model"]
    # transformers reads config.custom_pipelines before its registry, and that path insists on the flag ...
    with pytest.raises(ValueError, match="trust_remote_code"):
        pipeline("translation", model=folder)
    # ... unless the model comes in loaded (no trust needed: the package's own classes load it)
    model = AutoModelForSeq2SeqLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    pipe = pipeline("translation", model=model, tokenizer=tokenizer)
    assert type(pipe) is TobigsTranslationPipeline and type(model).__module__ == "tobigs_transformer.model.modeling_tobigs"
    assert pipe("the cat", **GEN) == pipeline("translation", model=folder, trust_remote_code=True)("the cat", **GEN)


def test_pipeline_save_pretrained_writes_custom_pipelines(tmp_path, bart):
    model, tokenizer = bart
    pipe = pipeline("summarization", model=model, tokenizer=tokenizer)
    pipe.save_pretrained(tmp_path / "saved")
    config = transformers.AutoConfig.from_pretrained(tmp_path / "saved")
    assert {"translation", "summarization", "text2text-generation"} <= set(config.custom_pipelines)
    assert (tmp_path / "saved" / "pipeline_tobigs.py").is_file()
