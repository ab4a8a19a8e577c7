"""Shared by tests/test_train_*.py: paths of the tiny fixtures in this folder, tokenizers trained on them once per
test session (with the data package's trainers), and tiny model overrides for the training scripts."""

from __future__ import annotations

import json
import os
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name: str) -> str:
    return os.path.join(HERE, name)


# 2 layers, d_model 32: every CLI runs a few steps in seconds.
TINY = "d_model=32,encoder_layers=2,decoder_layers=2,encoder_attention_heads=4,decoder_attention_heads=4," \
       "encoder_ffn_dim=37,decoder_ffn_dim=37,max_position_embeddings=64"

COMMON = ["--use_cpu", "--report_to", "none", "--seed", "0", "--disable_tqdm", "true", "--logging_steps", "1",
          "--save_strategy", "no", "--dataloader_num_workers", "0", "--per_device_train_batch_size", "4",
          "--per_device_eval_batch_size", "4"]

_CACHE: dict[str, str] = {}


def _texts(*names):
    for name in names:
        with open(path(name), encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                if name.endswith(".jsonl"):
                    record = json.loads(line)
                    if "sentences" in record:
                        yield from record["sentences"]
                    elif "tokens" in record:
                        yield " ".join(record["tokens"])
                    else:
                        yield from (v for v in record.values() if isinstance(v, str))
                else:
                    yield line


def tokenizers() -> dict[str, str]:
    """Folders of the four tokenizer kinds trained on the fixtures (built once per process)."""
    if _CACHE:
        return _CACHE
    from tobigs_transformer.data import (
        train_bart_tokenizer,
        train_gpt_tokenizer,
        train_translation_tokenizer,
        train_wordpiece_tokenizer,
    )

    root = tempfile.mkdtemp(prefix="tobigs-train-toks-")
    _CACHE["translation"] = os.path.join(root, "translation")
    train_translation_tokenizer(
        list(_texts("ko_en_train.jsonl", "ko_en_validation.jsonl")), vocab_size=120, min_frequency=1,
        save_dir=_CACHE["translation"],
    )
    _CACHE["gpt"] = os.path.join(root, "gpt")
    train_gpt_tokenizer(list(_texts("en_train.txt")), vocab_size=300, min_frequency=1, save_dir=_CACHE["gpt"])
    _CACHE["wordpiece"] = os.path.join(root, "wordpiece")
    train_wordpiece_tokenizer(
        list(_texts("docs_train.jsonl", "cls_train.jsonl", "ner_train.jsonl", "en_train.txt")), vocab_size=200,
        min_frequency=1, save_dir=_CACHE["wordpiece"],
    )
    _CACHE["bart"] = os.path.join(root, "bart")
    train_bart_tokenizer(list(_texts("docs_train.jsonl", "en_train.txt")), vocab_size=300, min_frequency=1,
                         save_dir=_CACHE["bart"])
    return _CACHE


def read_metrics(output_dir: str) -> dict:
    with open(os.path.join(output_dir, "metrics.json"), encoding="utf-8") as f:
        return json.load(f)


def char_tokenizer(text: str, save_dir: str, pad: bool = False):
    """A character-level tokenizer over the characters of ``text`` (line breaks and spaces included) with an
    end-of-text token ``<eos>`` = 0 (also what an unseen character becomes) and, with ``pad=True``, ``<pad>`` = 1;
    saved to ``save_dir`` and returned."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<eos>"] + (["<pad>"] if pad else [])
    vocab = {s: i for i, s in enumerate(specials)}
    for c in sorted(set(text)):
        vocab[c] = len(vocab)
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<eos>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>",
                                        pad_token="<pad>" if pad else None)
    tokenizer.save_pretrained(save_dir)
    return tokenizer
