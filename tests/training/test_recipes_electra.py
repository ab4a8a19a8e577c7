"""ELECTRA's pre-training command, ``tobigs train mlm --objective electra`` (Clark et al. 2020): RoBERTa's data into
the joint generator + discriminator, the two losses logged and evaluated, checkpoints of the joint model (resume
restores both), and a final save whose root is the discriminator alone, the folder fine-tuning loads."""

import json

import pytest
import torch
from fixtures.helpers import COMMON, TINY, path, read_metrics, tokenizers
from transformers import AutoTokenizer, DataCollatorForLanguageModeling
from transformers.modeling_outputs import ModelOutput

from tobigs_transformer import TobigsForReplacedTokenDetection, TobigsForSequenceClassification
from tobigs_transformer.experiments.electra_vs_mlm import summarise
from tobigs_transformer.model.modeling_electra import TobigsElectraForPreTraining
from tobigs_transformer.tooling.commands import parse
from tobigs_transformer.training.run_classification import main as classify
from tobigs_transformer.training.run_mlm import (
    COMMAND,
    ELECTRA_JOINT_DIR,
    MaskedLanguageModelling,
    electra_metrics,
    electra_statistics,
    main,
)
from tobigs_transformer.training.validation import ArgumentError


def _argv(output_dir, *flags, preset="electra-small"):
    model = ["--preset", preset, "--config_overrides", TINY] if preset else []
    return ["--objective", "electra", *model, "--tokenizer_name",
            tokenizers()["wordpiece"], "--train_file", path("docs_train.jsonl"), "--validation_file",
            path("docs_validation.jsonl"), "--max_seq_length", "48", "--output_dir", str(output_dir), *COMMON, *flags]


def test_electra_takes_robertas_data_and_the_joint_model(tmp_path):
    recipe = MaskedLanguageModelling(*parse(COMMAND, _argv(tmp_path, "--do_train")))
    assert recipe.task.model_class is TobigsElectraForPreTraining and not recipe.task.language_model
    assert not recipe.data_args.pairs  # packed full sentences, no NSP labels
    tokenizer = AutoTokenizer.from_pretrained(tokenizers()["wordpiece"])
    assert type(recipe.collator(tokenizer, None, None)) is DataCollatorForLanguageModeling


def test_statistics_count_real_tokens_and_masked_positions():
    # 2 examples of 4 tokens, pad id 0; example 1 ends in a pad; masked positions are where labels != -100
    labels = torch.tensor([[-100, 7, -100, -100], [5, -100, 6, -100]])
    corrupted = torch.tensor([[2, 9, 8, 0], [5, 3, 4, 3]])
    replaced = torch.tensor([[0, 1, 0, 0], [0, 0, 1, 0]])
    logits = torch.tensor([[-1.0, 2.0, 3.0, 5.0], [1.0, -1.0, 0.5, -2.0]])  # > 0: "replaced"
    generator_logits = torch.zeros(2, 4, 10)
    generator_logits[0, 1, 7] = generator_logits[1, 0, 5] = generator_logits[1, 2, 2] = 1.0  # 2 of 3 right
    outputs = ModelOutput(mlm_loss=torch.tensor(2.0), rtd_loss=torch.tensor(0.5), logits=logits,
                          generator_logits=generator_logits, corrupted_ids=corrupted, replaced=replaced)
    stats = electra_statistics(outputs, labels, pad_token_id=0)
    # example 0: real tokens 0..2 (3 is pad), RTD right at 0 and 1 (2 predicted replaced but is not)
    # example 1: 4 real, right at 1, 2, 3 (0 predicted replaced but is original)
    assert stats.tolist() == [[2.0, 0.5, 2, 3, 1, 1, 1], [2.0, 0.5, 3, 4, 1, 2, 1]]
    metrics = electra_metrics(type("EvalPrediction", (), {"predictions": stats.numpy()})())
    assert metrics == pytest.approx({"mlm_loss": 2.0, "rtd_loss": 0.5, "rtd_accuracy": 5 / 7,
                                     "replaced_fraction": 2 / 7, "generator_accuracy": 2 / 3})


@pytest.mark.parametrize("preset", ["gpt2", "bart-base"])
def test_a_non_encoder_preset_is_a_usage_error_naming_it(tmp_path, preset):
    with pytest.raises(ArgumentError, match=rf"preset '{preset}' is a .* model, but the mlm script trains "
                                            r"encoder-only models"):
        main(_argv(tmp_path, "--do_train", preset=preset))


def test_an_encoder_without_generator_size_is_a_usage_error(tmp_path):
    with pytest.raises(ArgumentError, match="--objective electra needs .* generator_size=0.25"):
        main(_argv(tmp_path, "--do_train", preset="bert-base"))


@pytest.mark.slow
def test_pretrain_resume_and_fine_tune_the_discriminator(tmp_path):
    out = tmp_path / "electra"
    # 2 steps with a checkpoint, then resumed to 4 with evaluation
    main(_argv(out, "--do_train", "--max_steps", "2", "--save_strategy", "steps", "--save_steps", "2"))
    checkpoint = out / "checkpoint-2"
    with open(checkpoint / "config.json", encoding="utf-8") as f:
        assert json.load(f)["architectures"] == ["TobigsElectraForPreTraining"]  # resuming needs the generator too
    first = [h["loss"] for h in read_metrics(out)["log_history"] if "loss" in h]
    # another seed: a restart would log other losses at steps 1-2, a resume keeps the checkpoint's
    metrics = main(_argv(out, "--do_train", "--do_eval", "--max_steps", "4", "--resume_from_checkpoint", "last",
                         "--seed", "1"))
    history = read_metrics(out)["log_history"]
    assert [h["step"] for h in history if "loss" in h] == [1, 2, 3, 4]
    assert [h["loss"] for h in history if "loss" in h][:2] == first
    for h in (h for h in history if "loss" in h):
        assert h["mlm_loss"] > 0 and h["rtd_loss"] > 0
    assert metrics["eval_loss"] == pytest.approx(metrics["eval_mlm_loss"] + 50 * metrics["eval_rtd_loss"], rel=1e-4)
    assert 0 <= metrics["eval_rtd_accuracy"] <= 1 and 0 < metrics["eval_replaced_fraction"] < 1

    # root = the discriminator alone; electra_joint = generator + discriminator, the same discriminator weights
    joint = TobigsElectraForPreTraining.from_pretrained(out / ELECTRA_JOINT_DIR)
    discriminator, info = TobigsForReplacedTokenDetection.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    expected = joint.discriminator.state_dict()
    for name, tensor in discriminator.state_dict().items():
        torch.testing.assert_close(tensor, expected[name], rtol=0, atol=0, msg=name)
    classifier, info = TobigsForSequenceClassification.from_pretrained(out, num_labels=2, output_loading_info=True)
    assert {k for k in info["missing_keys"] if not k.startswith(("classifier.", "model.pooler."))} == set()
    encoder = {k: v for k, v in classifier.state_dict().items() if k.startswith("model.") and "pooler" not in k}
    assert encoder and all(torch.equal(v, expected[k]) for k, v in encoder.items())

    # the fine-tuning command takes the folder as it is
    result = classify(["--model_name_or_path", str(out), "--train_file", path("cls_train.jsonl"), "--validation_file",
                       path("cls_validation.jsonl"), "--max_seq_length", "48", "--do_train", "--do_eval",
                       "--max_steps", "2", "--output_dir", str(tmp_path / "cls"), *COMMON])
    assert 0 <= result["eval_accuracy"] <= 1

    # continuing pre-training from the root (the discriminator) is refused, from electra_joint it works
    with pytest.raises(ArgumentError, match="continue pre-training from its 'electra_joint' folder"):
        main(_argv(tmp_path / "again", "--do_train", "--model_name_or_path", str(out), preset=None))
    again = main(_argv(tmp_path / "again", "--do_train", "--max_steps", "1", "--model_name_or_path",
                       str(out / ELECTRA_JOINT_DIR), preset=None))
    assert again["train_loss"] > 0


def test_experiment_summary_is_mean_and_spread_over_seeds():
    rows = [{"seed": s, "pretrain": {"seconds": 10.0 * s}, "fine_tune": {"test_accuracy": a}}
            for s, a in ((1, 0.6), (2, 0.7), (3, 0.8))]
    summary = summarise({"electra": rows, "mlm": []})
    assert set(summary) == {"electra"}  # an arm that has not run yet is left out
    assert summary["electra"] == pytest.approx({"seeds": 3, "mean": 0.7, "std": 0.1, "min": 0.6, "max": 0.8,
                                                "pretrain_seconds_mean": 20.0})
