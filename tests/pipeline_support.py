"""Helpers (no tests) shared by test_pipeline_*.py and test_hub_*.py: tiny tokenizers built with `tokenizers`, tiny
models of every family, and the clean-environment runner.

Import as `import pipeline_support as support` (pytest puts tests/ on sys.path).
"""

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from tiny import TINY as TINY_SIZES
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from tobigs_transformer import (
    TobigsConfig,
    TobigsForCausalLM,
    TobigsForConditionalGeneration,
    TobigsForMaskedLM,
    TobigsForSequenceClassification,
    TobigsForTokenClassification,
)

TESTS_DIR = Path(__file__).resolve().parent
CASES_SCRIPT = TESTS_DIR / "pipeline_cases.py"

_WORDS = (
    "the cat sat on a mat and the dog ran in the park while birds sang over green trees near old houses "
    "people walked to school every morning with books bags and small cups of warm tea under grey skies"
).split()
CORPUS = [" ".join(_WORDS[(i * 7 + j * 3) % len(_WORDS)] for j in range(6 + i % 5)) + "." for i in range(80)]

TINY = dict(
    **{key: value for key, value in TINY_SIZES.items() if key != "vocab_size"},  # tests/tiny.py
    dropout=0.0,
    attention_dropout=0.0,
    init_std=0.2,  # peaked predictions: no near-ties between the top tokens/labels of an untrained model
)


@functools.lru_cache
def bert_tokenizer() -> PreTrainedTokenizerFast:
    """WordPiece with [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, BERT pair template, token_type_ids returned."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=150, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_input_names=["input_ids", "token_type_ids", "attention_mask"], model_max_length=64,
    )


@functools.lru_cache
def gpt_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level BPE with <|endoftext|>=0 (bos/eos) and a distinct <pad>=1, left padding."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>", "<pad>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>",
        pad_token="<pad>", padding_side="left", model_max_length=64,
    )


@functools.lru_cache
def seq2seq_tokenizer() -> PreTrainedTokenizerFast:
    """BPE (Metaspace) with <s>=0 <pad>=1 </s>=2 <unk>=3 <mask>=4 (BART's ids), `<s> $A </s>`."""
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=150, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
        mask_token="<mask>", model_max_length=64,
    )


def config(preset: str, tokenizer, **overrides) -> TobigsConfig:
    """A tiny version of a preset whose vocabulary and special ids are the tokenizer's."""
    ids = dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    if preset.startswith("gpt"):
        ids.update(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    elif preset.startswith("transformer"):
        ids.update(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                   decoder_start_token_id=tokenizer.bos_token_id)
    elif preset.startswith("bart"):
        ids.update(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                   decoder_start_token_id=tokenizer.eos_token_id)
    return TobigsConfig.from_preset(preset, **{**TINY, **ids, **overrides})


def bert_mlm():
    tok = bert_tokenizer()
    torch.manual_seed(0)
    return TobigsForMaskedLM(config("bert-base", tok)).eval(), tok


def bert_classifier():
    tok = bert_tokenizer()
    torch.manual_seed(1)
    cfg = config("bert-base", tok, id2label={0: "negative", 1: "neutral", 2: "positive"},
                 label2id={"negative": 0, "neutral": 1, "positive": 2})
    return TobigsForSequenceClassification(cfg).eval(), tok


def bert_tagger():
    tok = bert_tokenizer()
    torch.manual_seed(2)
    labels = ["O", "B-ANIMAL", "I-ANIMAL", "B-PLACE", "I-PLACE"]
    cfg = config("bert-base", tok, id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})
    return TobigsForTokenClassification(cfg).eval(), tok


def gpt2_lm():
    tok = gpt_tokenizer()
    torch.manual_seed(3)
    return TobigsForCausalLM(config("gpt2", tok)).eval(), tok


def transformer_xl_lm():
    tok = gpt_tokenizer()
    torch.manual_seed(6)
    return TobigsForCausalLM(config("transformer-xl", tok, mem_len=16)).eval(), tok


def bart_seq2seq():
    tok = seq2seq_tokenizer()
    torch.manual_seed(4)
    return TobigsForConditionalGeneration(config("bart-base", tok)).eval(), tok


def transformer_seq2seq():
    tok = seq2seq_tokenizer()
    torch.manual_seed(5)
    return TobigsForConditionalGeneration(config("transformer-base", tok)).eval(), tok


def clean_env(tmp_path: Path) -> dict:
    """Environment for a subprocess that cannot import tobigs_transformer and never touches the network."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               HF_MODULES_CACHE=str(tmp_path / "hf_modules"), HF_HOME=str(tmp_path / "hf_home"),
               TRANSFORMERS_VERBOSITY="error", OMP_NUM_THREADS="1")
    return env


def run_cases_clean(tmp_path: Path, entries: list[dict], timeout: int = 240) -> dict:
    """Run pipeline_cases.run_cases(entries) in a fresh interpreter where `import tobigs_transformer` fails."""
    spec, out = tmp_path / "cases_spec.json", tmp_path / "cases_out.json"
    spec.write_text(json.dumps(entries))
    workdir = tmp_path / "cwd"
    workdir.mkdir(exist_ok=True)
    proc = subprocess.run(
        [sys.executable, str(CASES_SCRIPT), str(spec), str(out)], cwd=workdir, env=clean_env(tmp_path),
        capture_output=True, text=True, timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(f"clean-environment run failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return json.loads(out.read_text())


def assert_close_results(actual, expected, path="", atol=1e-4):
    """Equal structures; strings/ints exactly, floats to `atol` (separate processes may differ in the last bits)."""
    if isinstance(expected, float) or isinstance(actual, float):
        assert abs(actual - expected) <= atol * max(1.0, abs(expected)), f"{path}: {actual} != {expected}"
    elif isinstance(expected, dict):
        assert set(actual) == set(expected), f"{path}: keys {sorted(actual)} != {sorted(expected)}"
        for key in expected:
            assert_close_results(actual[key], expected[key], f"{path}.{key}", atol)
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close_results(a, e, f"{path}[{i}]", atol)
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


FAMILIES = {
    # name: (builder, pipeline kind)
    "bert_mlm": (bert_mlm, "fill-mask"),
    "bert_cls": (bert_classifier, "text-classification"),
    "bert_tok": (bert_tagger, "token-classification"),
    "gpt2": (gpt2_lm, "text-generation"),
    "transformer_xl": (transformer_xl_lm, "text-generation"),
    "bart": (bart_seq2seq, "seq2seq"),
    "transformer": (transformer_seq2seq, "seq2seq"),
}
# One entry per architecture loads every Auto class of its auto_map; the others load their own class + AutoModel.
ALL_AUTO = ("bert_mlm", "gpt2", "bart")
TRANSLATION_PAIRS = {"bart": ("ro", "en"), "transformer": ("en", "de")}


def build_entries(out_dir: Path | None = None):
    """Fresh models of every family as (object entries, folder entries); exports the folders when `out_dir` is set."""
    from tobigs_transformer.hub import export_for_hub

    objects, folders = [], []
    for name, (builder, kind) in FAMILIES.items():
        model, tokenizer = builder()
        extra = []
        export_kwargs = {}
        if name in TRANSLATION_PAIRS:
            src, tgt = TRANSLATION_PAIRS[name]
            extra = [f"translation_{src}_to_{tgt}"]
            export_kwargs = dict(src_lang=src, tgt_lang=tgt)
        objects.append(dict(name=name, model=model, tokenizer=tokenizer, kind=kind, extra_tasks=extra))
        if out_dir is not None:
            export_for_hub(model, tokenizer, out_dir / name, **export_kwargs)
            folders.append(dict(name=name, model=str(out_dir / name), kind=kind, extra_tasks=extra,
                                all_auto=name in ALL_AUTO))
    return objects, folders
