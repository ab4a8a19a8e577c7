"""Every training CLI end to end for a few steps on tiny fixtures: artefacts, metric keys, reload, config files,
and bad arguments failing before training starts."""

import json
import os

import pytest
import yaml
from fixtures.helpers import COMMON, TINY, path, read_metrics, tokenizers

from tobigs_transformer.tooling.cli import UsageError
from tobigs_transformer.training import (
    ArgumentError,
    run_classification,
    run_clm,
    run_denoising,
    run_mlm,
    run_token_classification,
    run_translation,
)

STEPS = ["--max_steps", "3", "--do_train", "--do_eval"]


def _check_artifacts(out, model_class=None):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "metrics.json", "loss_curve.png",
                 "trainer_state.json", "all_results.json"):
        assert os.path.isfile(os.path.join(out, name)), name
    if model_class is not None:
        model = model_class.from_pretrained(out)
        assert model is not None
    return read_metrics(out)


def test_clm(tmp_path):
    from tobigs_transformer import TobigsForCausalLM

    out = str(tmp_path / "clm")
    metrics = run_clm.main(["--preset", "gpt2", "--config_overrides", TINY, "--tokenizer_name", tokenizers()["gpt"],
                            "--train_file", path("en_train.txt"), "--validation_file", path("en_validation.txt"),
                            "--block_size", "32", "--output_dir", out, "--sample_prompts", "The cat",
                            "--sample_max_new_tokens", "5", *STEPS, *COMMON])
    data = _check_artifacts(out, TobigsForCausalLM)
    for key in ("train_loss", "eval_loss", "eval_perplexity", "train_perplexity"):
        assert key in metrics and key in data["metrics"], key
    assert data["samples"][0]["text"].startswith("The cat")
    assert any("eval_perplexity" in e for e in data["log_history"])


@pytest.mark.parametrize("variant", [[], ["--objective", "mlm"], ["--objective", "mlm+sop", "--masking", "ngram"]],
                         ids=["bert-nsp", "roberta", "albert-sop"])
def test_mlm(tmp_path, variant):
    from tobigs_transformer import TobigsForMaskedLM, TobigsForPreTraining

    out = str(tmp_path / "mlm")
    metrics = run_mlm.main(["--preset", "bert-base", "--config_overrides", TINY, "--tokenizer_name",
                            tokenizers()["wordpiece"], "--train_file", path("docs_train.jsonl"), "--validation_file",
                            path("docs_validation.jsonl"), "--max_seq_length", "48", "--output_dir", out,
                            *STEPS, *COMMON, *variant])
    _check_artifacts(out, TobigsForMaskedLM if variant == ["--objective", "mlm"] else TobigsForPreTraining)
    assert "eval_mlm_accuracy" in metrics
    if variant == ["--objective", "mlm"]:
        assert "eval_perplexity" in metrics and "eval_nsp_accuracy" not in metrics
    else:
        assert "eval_nsp_accuracy" in metrics


def test_denoising(tmp_path):
    from tobigs_transformer import TobigsForConditionalGeneration

    out = str(tmp_path / "bart")
    metrics = run_denoising.main(["--preset", "bart-base", "--config_overrides", TINY, "--tokenizer_name",
                                  tokenizers()["bart"], "--train_file", path("docs_train.jsonl"), "--validation_file",
                                  path("docs_validation.jsonl"), "--max_seq_length", "48", "--noising", "bart-large",
                                  "--output_dir", out, *STEPS, *COMMON])
    _check_artifacts(out, TobigsForConditionalGeneration)
    assert {"eval_loss", "eval_perplexity", "train_loss"} <= set(metrics)


def test_translation_with_paper_recipe(tmp_path):
    from tobigs_transformer import TobigsForConditionalGeneration

    out = str(tmp_path / "mt")
    metrics = run_translation.main([
        "--preset", "transformer-base", "--config_overrides", TINY, "--tokenizer_name", tokenizers()["translation"],
        "--train_file", path("ko_en_train.jsonl"), "--validation_file", path("ko_en_validation.jsonl"),
        "--test_file", path("ko_en_validation.jsonl"), "--source_lang", "ko", "--target_lang", "en",
        "--max_source_length", "32", "--max_target_length", "32", "--predict_with_generate",
        "--generation_num_beams", "2", "--generation_max_length", "12", "--label_smoothing", "0.1",
        "--lr_scheduler_type", "noam", "--warmup_steps", "2", "--learning_rate", "1.0", "--do_predict",
        "--sample_sentences", "투빅아, 나는 너를 많이 사랑해.", "--output_dir", out, *STEPS, *COMMON])
    data = _check_artifacts(out, TobigsForConditionalGeneration)
    for key in ("eval_bleu", "eval_chrf", "eval_gen_len", "eval_loss", "test_bleu", "test_chrf"):
        assert key in metrics, key
    assert data["samples"][0]["source"] == "투빅아, 나는 너를 많이 사랑해."
    assert os.path.isfile(os.path.join(out, "generated_predictions.txt"))
    lrs = [e["learning_rate"] for e in data["log_history"] if "learning_rate" in e]
    assert lrs[0] == pytest.approx(32 ** -0.5 * 1 * 2 ** -1.5)  # noam at step 1, d_model 32, warm-up 2
    assert json.load(open(os.path.join(out, "config.json")))["label_smoothing"] == 0.1
    # the saved generation config is the one evaluation decoded with: a plain generate() gives the reported sample
    generation = json.load(open(os.path.join(out, "generation_config.json")))
    assert (generation["num_beams"], generation["max_length"]) == (2, 12)
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    model, tokenizer = AutoModelForSeq2SeqLM.from_pretrained(out).eval(), AutoTokenizer.from_pretrained(out)
    batch = tokenizer([data["samples"][0]["source"]], return_tensors="pt")
    batch.pop("token_type_ids", None)
    text = tokenizer.decode(model.generate(**batch)[0], skip_special_tokens=True).strip()
    assert text == data["samples"][0]["output"]
    # ... and the first line of --do_predict's generated_predictions.txt, decoded by Seq2SeqTrainer in a batch
    first = json.loads(open(path("ko_en_validation.jsonl"), encoding="utf-8").readline())["ko"]
    batch = tokenizer([first], return_tensors="pt")
    batch.pop("token_type_ids", None)
    predicted = open(os.path.join(out, "generated_predictions.txt"), encoding="utf-8").readline().rstrip("\n")
    assert tokenizer.decode(model.generate(**batch)[0], skip_special_tokens=True).strip() == predicted


def test_summarization_task(tmp_path):
    out = str(tmp_path / "sum")
    rows = [json.loads(x) for x in open(path("ko_en_train.jsonl"), encoding="utf-8")]
    data = tmp_path / "sum.jsonl"
    data.write_text("".join(json.dumps({"document": r["en"] + " " + r["en"], "summary": r["en"]}) + "\n"
                            for r in rows))
    metrics = run_translation.main([
        "--task", "summarization", "--preset", "bart-base", "--config_overrides", TINY, "--tokenizer_name",
        tokenizers()["bart"], "--train_file", str(data), "--validation_split_percentage", "20",
        "--max_source_length", "48", "--max_target_length", "24", "--predict_with_generate",
        "--generation_max_length", "8", "--output_dir", out, *STEPS, *COMMON])
    assert {"eval_bleu", "eval_chrf", "eval_loss"} <= set(metrics)


def test_classification(tmp_path):
    from tobigs_transformer import TobigsForSequenceClassification

    out = str(tmp_path / "cls")
    metrics = run_classification.main(["--preset", "bert-base", "--config_overrides", TINY, "--tokenizer_name",
                                       tokenizers()["wordpiece"], "--train_file", path("cls_train.jsonl"),
                                       "--validation_file", path("cls_validation.jsonl"), "--max_seq_length", "32",
                                       "--output_dir", out, *STEPS, *COMMON])
    _check_artifacts(out, TobigsForSequenceClassification)
    assert {"eval_accuracy", "eval_f1", "eval_loss"} <= set(metrics)


def test_token_classification(tmp_path):
    from tobigs_transformer import TobigsForTokenClassification

    out = str(tmp_path / "ner")
    metrics = run_token_classification.main(["--preset", "bert-base", "--config_overrides", TINY,
                                             "--tokenizer_name", tokenizers()["wordpiece"], "--train_file",
                                             path("ner_train.jsonl"), "--validation_file",
                                             path("ner_validation.jsonl"), "--max_seq_length", "32",
                                             "--output_dir", out, *STEPS, *COMMON])
    _check_artifacts(out, TobigsForTokenClassification)
    assert {"eval_accuracy", "eval_f1", "eval_entity_f1"} <= set(metrics)
    assert json.load(open(os.path.join(out, "config.json")))["id2label"]["0"] == "B-LOC"


def test_token_classification_predict_writes_one_tag_per_word(tmp_path):
    """--do_predict predicts (run_ner's predictions.txt): one line per test example, one tag per word, the argmax on
    each word's first sub-token of the saved model; a test file without tags gives predictions only."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    rows = [json.loads(line) for line in open(path("ner_validation.jsonl"), encoding="utf-8")]
    untagged = tmp_path / "ner_test.jsonl"
    untagged.write_text("".join(json.dumps({"tokens": r["tokens"]}) + "\n" for r in rows), encoding="utf-8")
    out = str(tmp_path / "ner")
    metrics = run_token_classification.main(["--preset", "bert-base", "--config_overrides", TINY,
                                             "--tokenizer_name", tokenizers()["wordpiece"], "--train_file",
                                             path("ner_train.jsonl"), "--test_file", str(untagged),
                                             "--max_seq_length", "32", "--do_predict", "--output_dir", out,
                                             "--max_steps", "3", "--do_train", *COMMON])
    lines = open(os.path.join(out, "predictions.txt"), encoding="utf-8").read().splitlines()
    assert [len(line.split()) for line in lines] == [len(r["tokens"]) for r in rows]
    assert "test_loss" not in metrics and "test_runtime" in metrics  # no tags: predictions only
    model, tokenizer = AutoModelForTokenClassification.from_pretrained(out).eval(), AutoTokenizer.from_pretrained(out)
    for row, line in zip(rows, lines):
        enc = tokenizer(row["tokens"], is_split_into_words=True, return_tensors="pt")
        with torch.no_grad():
            ids = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits[0].argmax(-1)
        word_ids, first = enc.word_ids(0), []
        for position, word in enumerate(word_ids):
            if word is not None and word not in word_ids[:position]:
                first.append(model.config.id2label[int(ids[position])])
        assert line.split() == first
    assert read_metrics(out)["test_predictions"][0] == lines[0].split()


def test_yaml_config_file_and_continue_from_checkpoint(tmp_path):
    from tobigs_transformer import TobigsForSequenceClassification

    pre = str(tmp_path / "pre")
    run_mlm.main(["--preset", "bert-base", "--config_overrides", TINY, "--tokenizer_name", tokenizers()["wordpiece"],
                  "--train_file", path("docs_train.jsonl"), "--max_seq_length", "48", "--output_dir", pre,
                  "--max_steps", "2", "--do_train", *COMMON])
    cfg = tmp_path / "cls.yaml"
    out = str(tmp_path / "ft")
    cfg.write_text(yaml.safe_dump({
        "model_name_or_path": pre, "train_file": path("cls_train.jsonl"),
        "validation_file": path("cls_validation.jsonl"), "max_seq_length": 32, "do_train": True, "do_eval": True,
        "max_steps": 2, "output_dir": out, "use_cpu": True, "report_to": "none", "save_strategy": "no",
        "per_device_train_batch_size": 4}))
    metrics = run_classification.main([str(cfg)])
    assert "eval_accuracy" in metrics
    # the fine-tuned model kept the pretrained encoder
    from safetensors.torch import load_file

    a, b = load_file(os.path.join(pre, "model.safetensors")), load_file(os.path.join(out, "model.safetensors"))
    key = next(k for k in a if "encoder.layers.0" in k and k.endswith("weight"))
    assert key in b and a[key].shape == b[key].shape
    assert TobigsForSequenceClassification.from_pretrained(out).config.num_labels == 2
    # --config_file + flag override
    metrics = run_classification.main(["--config_file", str(cfg), "--max_steps", "1", "--output_dir", out + "2"])
    assert read_metrics(out + "2")["metrics"]["step"] == 1


# --------------------------------------------------------------------------------------------- bad arguments
def _fails(main, argv, match, error=ArgumentError):
    with pytest.raises(error, match=match):
        main(argv)


def test_missing_data_file_fails_early(tmp_path):
    _fails(run_clm.main, ["--preset", "gpt2", "--tokenizer_name", tokenizers()["gpt"], "--train_file",
                          str(tmp_path / "nope.txt"), "--do_train", "--output_dir", str(tmp_path), "--use_cpu"],
           "does not exist")
    _fails(run_clm.main, ["--preset", "gpt2", "--tokenizer_name", tokenizers()["gpt"], "--do_train",
                          "--output_dir", str(tmp_path), "--use_cpu"], "needs training data")


def test_preset_that_does_not_fit_the_task_fails_early(tmp_path):
    _fails(run_clm.main, ["--preset", "bert-base", "--config_overrides", TINY, "--tokenizer_name",
                          tokenizers()["gpt"], "--train_file", path("en_train.txt"), "--do_train", "--output_dir",
                          str(tmp_path), "--use_cpu"], "encoder-only model, but the clm script trains decoder-only")
    _fails(run_translation.main, ["--preset", "gpt2", "--config_overrides", TINY, "--tokenizer_name",
                                  tokenizers()["translation"], "--train_file", path("ko_en_train.jsonl"),
                                  "--source_lang", "ko", "--target_lang", "en", "--do_train", "--output_dir",
                                  str(tmp_path), "--use_cpu"], "presets that fit")


def test_tokenizer_vocab_mismatch_fails_early(tmp_path):
    from tobigs_transformer import TobigsConfig, TobigsForCausalLM

    small = str(tmp_path / "small")
    config = TobigsConfig.from_preset("gpt2", d_model=32, decoder_layers=1, decoder_attention_heads=4,
                                      decoder_ffn_dim=37, max_position_embeddings=64, vocab_size=100,
                                      pad_token_id=1, bos_token_id=0, eos_token_id=0)
    TobigsForCausalLM(config).save_pretrained(small)
    argv = ["--train_file", path("en_train.txt"), "--block_size", "32", "--do_train", "--output_dir",
            str(tmp_path / "x"), "--use_cpu"]
    _fails(run_clm.main, ["--model_name_or_path", small, "--tokenizer_name", tokenizers()["gpt"], *argv],
           "tokenizer has 300 tokens but .* embeds only vocab_size=100")
    config.vocab_size = 300
    TobigsForCausalLM(config).save_pretrained(small)
    _fails(run_clm.main, ["--model_name_or_path", small, "--tokenizer_name", tokenizers()["wordpiece"], *argv],
           "pads with id 0 .* pad_token_id=1")


def test_other_bad_arguments(tmp_path):
    base = ["--tokenizer_name", tokenizers()["wordpiece"], "--train_file", path("docs_train.jsonl"), "--do_train",
            "--output_dir", str(tmp_path), "--use_cpu"]
    # the recipe is one value: contradictory flags cannot be written; the removed flags say what replaced them
    _fails(run_mlm.main, ["--preset", "bert-base", "--objective", "mlm+nsp+sop", *base],
           r"--objective.*invalid choice: 'mlm\+nsp\+sop'", error=UsageError)
    with pytest.raises(UsageError, match=r"--no_nsp no longer exists: use --objective mlm"):
        run_mlm.main(["--preset", "bert-base", "--no_nsp", *base])
    _fails(run_mlm.main, ["--preset", "no-such-preset", *base], "unknown")
    _fails(run_mlm.main, ["--preset", "bert-base", "--config_overrides", TINY, "--max_seq_length", "500", *base],
           "max_position_embeddings")
    _fails(run_clm.main, ["--preset", "gpt2", "--train_file", path("en_train.txt"), "--do_train", "--output_dir",
                          str(tmp_path), "--use_cpu"], "--tokenizer_name is required")
