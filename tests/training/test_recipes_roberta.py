"""RoBERTa's recipe (Liu et al. 2019 §4) is one value of the MLM trainer, ``tobigs train mlm --objective mlm``:
FULL-SENTENCES packing across document boundaries, dynamic masking (masks drawn every time a batch is built), no
NSP (a plain masked-LM model, no pair labels)."""

import torch
from fixtures.helpers import path, tokenizers
from transformers import AutoTokenizer, DataCollatorForLanguageModeling

from tobigs_transformer import TobigsForMaskedLM
from tobigs_transformer.tooling.commands import parse
from tobigs_transformer.training.run_mlm import COMMAND, MaskedLanguageModelling
from tiny import tiny_config


def _recipe(tmp_path, *flags):
    argv = ["--tokenizer_name", tokenizers()["wordpiece"], "--train_file", path("docs_train.jsonl"),
            "--validation_split_percentage", "0", "--max_seq_length", "48", "--do_train", "--output_dir",
            str(tmp_path), "--use_cpu", *flags]
    return MaskedLanguageModelling(*parse(COMMAND, argv))


def test_objective_mlm_is_roberta(tmp_path):
    recipe = _recipe(tmp_path, "--objective", "mlm")
    tokenizer = AutoTokenizer.from_pretrained(tokenizers()["wordpiece"])
    assert recipe.task.model_class is TobigsForMaskedLM and recipe.task.language_model  # no NSP head, no pair loss
    raw = recipe.read()
    train = recipe.tokenize(raw, tokenizer, tiny_config("bert-base"))["train"]
    assert "next_sentence_label" not in train.column_names
    # FULL-SENTENCES: blocks of at most max_seq_length, filled across documents (a [SEP] inside a block ends a
    # document and the block goes on with the next one), and every sentence of every document is kept once
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    lengths = [len(ids) for ids in train["input_ids"]]
    assert max(lengths) <= 48 and all(ids[0] == cls and ids[-1] == sep for ids in train["input_ids"])
    inner_seps = sum(ids[1:-1].count(sep) for ids in train["input_ids"])
    assert inner_seps >= 1, "no block continues into the next document"
    documents = raw["train"]["sentences"]
    expected = [t for doc in documents for s in doc for t in tokenizer(s, add_special_tokens=False)["input_ids"]]
    packed = [t for ids in train["input_ids"] for t in ids if t not in (cls, sep)]
    assert packed == expected
    assert sum(lengths) / len(lengths) > 0.8 * 48  # full blocks, not one sentence or document each
    # dynamic masking: the same examples get new masks every time a batch is built
    collator = recipe.collator(tokenizer, tiny_config("bert-base"), model=None)
    assert isinstance(collator, DataCollatorForLanguageModeling) and collator.mlm
    features = [{"input_ids": ids} for ids in train["input_ids"][:8]]
    torch.manual_seed(0)
    first, second = collator(features)["labels"], collator(features)["labels"]
    assert not torch.equal(first != -100, second != -100)
