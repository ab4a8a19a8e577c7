"""ALBERT's pretraining recipe from the MLM trainer: ``--objective mlm+sop --masking ngram`` (sentence-order pairs,
n-gram masking); ``--masking ngram`` works with every objective."""

import pytest
import torch
from fixtures.helpers import path, tokenizers
from transformers import AutoTokenizer

from tobigs_transformer.data import DataCollatorForNextSentencePrediction, DataCollatorForNgramMasking
from tobigs_transformer.tooling.commands import parse
from tobigs_transformer.training.run_mlm import COMMAND, MaskedLanguageModelling
from tiny import tiny_config


def _collator(tmp_path, *flags):
    argv = ["--tokenizer_name", tokenizers()["wordpiece"], "--train_file", path("docs_train.jsonl"),
            "--output_dir", str(tmp_path), "--use_cpu", *flags]
    recipe = MaskedLanguageModelling(*parse(COMMAND, argv))
    return recipe.collator(AutoTokenizer.from_pretrained(tokenizers()["wordpiece"]), tiny_config("bert-base"), None)


@pytest.mark.parametrize("objective", ["mlm+sop", "mlm+nsp", "mlm"])
def test_masking_ngram_reaches_the_collator(tmp_path, objective):
    collator = _collator(tmp_path, "--objective", objective, "--masking", "ngram")
    masked_lm = collator.lm_collator if isinstance(collator, DataCollatorForNextSentencePrediction) else collator
    assert isinstance(masked_lm, DataCollatorForNgramMasking) and masked_lm.max_ngram == 3
    assert masked_lm.mlm_probability == 0.15
    default = _collator(tmp_path, "--objective", objective)
    default_lm = default.lm_collator if isinstance(default, DataCollatorForNextSentencePrediction) else default
    assert not isinstance(default_lm, DataCollatorForNgramMasking)


def test_sop_pairs_with_ngram_masking(tmp_path):
    collator = _collator(tmp_path, "--objective", "mlm+sop", "--masking", "ngram")
    ids = [2, *range(10, 40), 3, *range(40, 70), 3]
    feature = {"input_ids": ids, "token_type_ids": [0] * 32 + [1] * 31, "next_sentence_label": 1}
    torch.manual_seed(0)
    batch = collator([feature, dict(feature, next_sentence_label=0)])
    assert batch["next_sentence_label"].tolist() == [1, 0]
    chosen = batch["labels"] != -100
    assert chosen.sum(1).tolist() == [9, 9]  # round(0.15 · 60 maskable tokens), exactly
    assert not chosen[:, [0, 31, 62]].any()


def test_bad_masking_is_a_usage_error(tmp_path):
    from tobigs_transformer.tooling.cli import UsageError

    with pytest.raises((UsageError, SystemExit)):
        _collator(tmp_path, "--masking", "span")
