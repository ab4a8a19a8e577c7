"""The families `bench_twins.py` compares: one `Twin` row per transformers class that `convert_from_hf` converts.

A new family (or variant) is one more row in `TWINS`: the transformers class, how to configure it from a `Shape`,
what a training batch looks like, and the sizes per profile ("cpu": today's CPU section of RESULTS.md, "gpu": the
paper/checkpoint sizes of issue 14, "smoke": seconds). A row without a shape for a profile is skipped there.
`GROUPS` names sets of rows for `--families` ("variants": issue 10's ALBERT, RoBERTa, CTRL, Pegasus, ELECTRA).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch
import transformers

PROFILES = ("cpu", "gpu", "smoke")
# causal LM; BERT's MLM + next sentence prediction; ALBERT's MLM + sentence-order prediction; MLM alone (RoBERTa);
# ELECTRA's replaced-token detection (one 0/1 label per token); encoder-decoder LM
KINDS = ("causal", "mlm-nsp", "mlm-sop", "mlm", "rtd", "seq2seq")


@dataclass(frozen=True)
class Shape:
    """Model and workload sizes. `length` is the (source) sequence length; `target_length` the decoder's (seq2seq)."""

    d_model: int
    layers: int  # per stack
    heads: int
    ffn: int
    vocab: int
    batch: int
    length: int
    target_length: int = 0
    positions: int = 512
    gen_prompt: int = 16  # prompt (causal) or source (seq2seq) length for greedy generation
    gen_new: int = 64
    gen_batches: tuple[int, ...] = (1, 32)
    beam_batch: int = 8
    beam_prompt: int = 16
    beam_new: int = 64
    embedding_size: int = 0  # ALBERT / ELECTRA factorized embeddings: width E of the token table (0: d_model)

    def describe(self) -> str:
        tokens = f"{self.batch}×{self.length}" + (f"+{self.target_length}" if self.target_length else "")
        width = f", embeddings {self.embedding_size}" if self.embedding_size else ""
        return (f"d_model {self.d_model}{width}, {self.layers} layers/stack, {self.heads} heads, ffn {self.ffn}, "
                f"vocab {self.vocab}; train {tokens}")


@dataclass(frozen=True)
class Twin:
    """One transformers class and the sizes it is benchmarked at."""

    name: str
    hf_class: str
    kind: str  # one of KINDS
    config: Callable[[Shape], transformers.PreTrainedConfig]
    shapes: dict[str, Shape]
    generates: bool = True
    compiles: bool = True  # False: eager rows only (memory variants)
    notes: str = ""

    def shape(self, profile: str) -> Shape | None:
        return self.shapes.get(profile)


def _gpt2_config(s: Shape) -> transformers.PreTrainedConfig:
    return transformers.GPT2Config(vocab_size=s.vocab, n_embd=s.d_model, n_layer=s.layers, n_head=s.heads,
                                   n_inner=s.ffn, n_positions=s.positions, bos_token_id=0, eos_token_id=0,
                                   pad_token_id=0)


def _bert_config(s: Shape) -> transformers.PreTrainedConfig:
    return transformers.BertConfig(vocab_size=s.vocab, hidden_size=s.d_model, num_hidden_layers=s.layers,
                                   num_attention_heads=s.heads, intermediate_size=s.ffn,
                                   max_position_embeddings=s.positions)


def _albert_config(s: Shape) -> transformers.PreTrainedConfig:
    # ALBERT's defaults: one group of shared layers (all-shared), factorized embeddings at width E
    return transformers.AlbertConfig(vocab_size=s.vocab, embedding_size=s.embedding_size or s.d_model,
                                     hidden_size=s.d_model, num_hidden_layers=s.layers, num_attention_heads=s.heads,
                                     intermediate_size=s.ffn, max_position_embeddings=s.positions)


def _roberta_config(s: Shape) -> transformers.PreTrainedConfig:
    # positions start past the padding index 1, so the table holds two more rows than the longest input
    return transformers.RobertaConfig(vocab_size=s.vocab, hidden_size=s.d_model, num_hidden_layers=s.layers,
                                      num_attention_heads=s.heads, intermediate_size=s.ffn,
                                      max_position_embeddings=s.positions + 2, type_vocab_size=1)


def _ctrl_config(s: Shape) -> transformers.PreTrainedConfig:
    return transformers.CTRLConfig(vocab_size=s.vocab, n_embd=s.d_model, n_layer=s.layers, n_head=s.heads, dff=s.ffn,
                                   n_positions=s.positions)


def _electra_config(s: Shape) -> transformers.PreTrainedConfig:
    return transformers.ElectraConfig(vocab_size=s.vocab, embedding_size=s.embedding_size or s.d_model,
                                      hidden_size=s.d_model, num_hidden_layers=s.layers, num_attention_heads=s.heads,
                                      intermediate_size=s.ffn, max_position_embeddings=s.positions)


def _seq2seq_sizes(s: Shape) -> dict:
    return dict(vocab_size=s.vocab, d_model=s.d_model, encoder_layers=s.layers, decoder_layers=s.layers,
                encoder_attention_heads=s.heads, decoder_attention_heads=s.heads, encoder_ffn_dim=s.ffn,
                decoder_ffn_dim=s.ffn, max_position_embeddings=s.positions)


def _bart_config(s: Shape) -> transformers.PreTrainedConfig:
    return transformers.BartConfig(**_seq2seq_sizes(s))


def _marian_config(s: Shape) -> transformers.PreTrainedConfig:
    # The paper's base Transformer as transformers expresses it: ReLU, sinusoidal positions, scaled embeddings.
    return transformers.MarianConfig(**_seq2seq_sizes(s), decoder_vocab_size=s.vocab, activation_function="relu",
                                     scale_embedding=True, pad_token_id=s.vocab - 1,
                                     decoder_start_token_id=s.vocab - 1, eos_token_id=0)


def _pegasus_config(s: Shape) -> transformers.PreTrainedConfig:
    # transformers' Pegasus defaults: pre-LN, fixed sinusoids, scaled embeddings, pad 0 = decoder start, eos 1
    return transformers.PegasusConfig(**_seq2seq_sizes(s))


# Today's RESULTS.md section 1 (d_model 256, 4 layers, vocab 8192, 8×128), fp32 on 2 cores.
CPU = Shape(d_model=256, layers=4, heads=4, ffn=1024, vocab=8192, batch=8, length=128, positions=512)
CPU_S2S = replace(CPU, target_length=128)
# The memory goal of issue 14 is stated at vocabulary 32k+ and length ≥ 256: the same models at that size.
CPU_32K = replace(CPU, vocab=32768, length=256)
CPU_S2S_32K = replace(CPU_32K, target_length=256)
SMOKE = Shape(d_model=32, layers=2, heads=2, ffn=64, vocab=128, batch=2, length=16, positions=64, gen_prompt=4,
              gen_new=4, gen_batches=(1, 3), beam_batch=2, beam_prompt=4, beam_new=4)
SMOKE_S2S = replace(SMOKE, target_length=16)
# Issue 10's variants at the CPU sizes; ALBERT and ELECTRA with E = 128 (albert-base's and electra-small's
# embedding width: electra-small is this d_model 256 / ffn 1024 encoder with 12 layers)
CPU_FACTORIZED = replace(CPU, embedding_size=128)
SMOKE_FACTORIZED = replace(SMOKE, embedding_size=16)

# Issue 14's GPU sizes (the anchors of ../shared/bench/README.md): GPT-2 124M 16×1024, BERT-base 32×512,
# BART-base 16×(512+512), the paper's base Transformer 64×(128+128).
# Generation: prompt 32; 128 new tokens (the anchors used 256: per-token speed barely depends on it, and a
# GPU visit is minutes); beam-4 at batch 8.
_GPU_GEN = dict(gen_prompt=32, gen_new=128, gen_batches=(1, 32), beam_batch=8, beam_new=128)
GPU_GPT2 = Shape(d_model=768, layers=12, heads=12, ffn=3072, vocab=50304, batch=16, length=1024, positions=1024,
                 beam_prompt=32, **_GPU_GEN)
GPU_BERT = Shape(d_model=768, layers=12, heads=12, ffn=3072, vocab=30522, batch=32, length=512, positions=512)
GPU_BART = Shape(d_model=768, layers=6, heads=12, ffn=3072, vocab=50265, batch=16, length=512, target_length=512,
                 positions=1024, beam_prompt=256, **_GPU_GEN)
GPU_MARIAN = Shape(d_model=512, layers=6, heads=8, ffn=2048, vocab=37000, batch=64, length=128, target_length=128,
                   positions=512, beam_prompt=128, **_GPU_GEN)

TWINS: tuple[Twin, ...] = (
    Twin("gpt2", "GPT2LMHeadModel", "causal", _gpt2_config, {"cpu": CPU, "gpu": GPU_GPT2, "smoke": SMOKE}),
    Twin("bert", "BertForPreTraining", "mlm-nsp", _bert_config, {"cpu": CPU, "gpu": GPU_BERT, "smoke": SMOKE},
         generates=False),
    Twin("bart", "BartForConditionalGeneration", "seq2seq", _bart_config,
         {"cpu": CPU_S2S, "gpu": GPU_BART, "smoke": SMOKE_S2S}),
    Twin("marian", "MarianMTModel", "seq2seq", _marian_config,
         {"cpu": CPU_S2S, "gpu": GPU_MARIAN, "smoke": SMOKE_S2S}, notes="the paper's base Transformer (ReLU)"),
    Twin("gpt2-32k", "GPT2LMHeadModel", "causal", _gpt2_config, {"cpu": CPU_32K}, generates=False, compiles=False,
         notes="memory goal size"),
    Twin("bart-32k", "BartForConditionalGeneration", "seq2seq", _bart_config, {"cpu": CPU_S2S_32K},
         generates=False, compiles=False, notes="memory goal size"),
    Twin("pegasus-32k", "PegasusForConditionalGeneration", "seq2seq", _pegasus_config, {"cpu": CPU_S2S_32K},
         generates=False, compiles=False, notes="memory goal size (issue 22)"),
    Twin("marian-32k", "MarianMTModel", "seq2seq", _marian_config, {"cpu": CPU_S2S_32K},
         generates=False, compiles=False, notes="memory goal size (issue 22), the paper's base Transformer"),
    # Issue 10's variants (`--families variants`)
    Twin("albert", "AlbertForPreTraining", "mlm-sop", _albert_config,
         {"cpu": CPU_FACTORIZED, "smoke": SMOKE_FACTORIZED}, generates=False,
         notes="all layers shared, MLM + sentence-order prediction"),
    Twin("roberta", "RobertaForMaskedLM", "mlm", _roberta_config, {"cpu": CPU, "smoke": SMOKE}, generates=False),
    Twin("ctrl", "CTRLLMHeadModel", "causal", _ctrl_config, {"cpu": CPU, "smoke": SMOKE}),
    Twin("pegasus", "PegasusForConditionalGeneration", "seq2seq", _pegasus_config,
         {"cpu": CPU_S2S, "smoke": SMOKE_S2S}),
    Twin("electra", "ElectraForPreTraining", "rtd", _electra_config,
         {"cpu": CPU_FACTORIZED, "smoke": SMOKE_FACTORIZED}, generates=False,
         notes="the discriminator (replaced-token detection)"),
)
# Named groups of rows for `--families`
GROUPS = {"variants": ("albert", "roberta", "ctrl", "pegasus", "electra")}


def twins_named(names: str) -> list[Twin]:
    """The rows of a comma-separated list of row names and `GROUPS` names, in the order given, each once."""
    chosen: list[Twin] = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        for twin in (twin_named(n) for n in GROUPS.get(name, (name,))):
            if twin not in chosen:
                chosen.append(twin)
    if not chosen:
        raise ValueError(f"no family named in {names!r}")
    return chosen


def twin_named(name: str) -> Twin:
    for twin in TWINS:
        if twin.name == name:
            return twin
    raise ValueError(f"unknown family {name!r}; the table has {', '.join(t.name for t in TWINS)} "
                     f"and the groups {', '.join(GROUPS)}")


def build_hf(twin: Twin, shape: Shape, seed: int = 0) -> transformers.PreTrainedModel:
    """The transformers model with random weights drawn from `seed` (the same seed gives the same weights)."""
    config = twin.config(shape)
    config._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    return getattr(transformers, twin.hf_class)(config)


def train_batch(twin: Twin, shape: Shape, device: torch.device, seed: int = 1) -> dict[str, torch.Tensor]:
    """Random token ids in the vocabulary's interior (no special ids), as the model's training step consumes them."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, shape.vocab - 1, (shape.batch, shape.length), generator=g)
    if twin.kind == "causal":
        batch = {"input_ids": ids, "labels": ids}
    elif twin.kind in ("mlm-nsp", "mlm-sop", "mlm"):
        labels = torch.full_like(ids, -100)
        labels[:, ::7] = ids[:, ::7]  # every 7th token predicted: ~15% as BERT, and the same positions every run
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
        if twin.kind != "mlm":  # RoBERTa: one segment, no second objective
            segments = torch.zeros_like(ids)
            segments[:, shape.length // 2:] = 1  # sentence A | sentence B
            pair_label = "next_sentence_label" if twin.kind == "mlm-nsp" else "sentence_order_label"
            batch.update(token_type_ids=segments, **{pair_label: torch.randint(0, 2, (shape.batch,), generator=g)})
    elif twin.kind == "rtd":
        replaced = torch.zeros_like(ids)
        replaced[:, 3::7] = 1  # ~15% of the tokens marked replaced, as a generator's samples would be
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": replaced}
    else:
        labels = torch.randint(3, shape.vocab - 1, (shape.batch, shape.target_length), generator=g)
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    return {k: v.to(device) for k, v in batch.items()}


def train_tokens(twin: Twin, shape: Shape) -> int:
    """Tokens one training step consumes (source + target for seq2seq), the unit of tokens/s."""
    return shape.batch * (shape.length + shape.target_length)


def train_flops(twin: Twin, shape: Shape) -> float:
    """Model FLOPs of one training step (forward + backward = 3 × forward), counted from the shape.

    A matmul of a (tokens × i) activation with an (i × o) weight costs 2·i·o FLOPs per token forward, so
    6·i·o per token for a training step (nanoGPT's / PaLM's 6·N·tokens). Attention scores (Q·Kᵀ) and the
    weighted sum (A·V) cost 2·2·d·T per query token per layer forward, 12·d·T with backward (T = keys
    attended; causal masking is not discounted, as in nanoGPT). With d = d_model, f = ffn, V = vocab,
    L = layers per stack, B = batch:

      decoder-only (GPT-2), length T:
          B·T · [6·(L·(4d² + 2d·f) + d·V) + 12·L·d·T]
      encoder-only (BERT MLM+NSP, RoBERTa MLM), length T (prediction head on every position, as
      BertForPreTraining):
          B·T · [6·(L·(4d² + 2d·f) + d² + d·V) + 12·L·d·T]
      factorized embeddings of width E (ALBERT MLM+SOP; the E→d projection, a d→E head, the E-wide
      decoder; shared layers still run L times):
          B·T · [6·(E·d + L·(4d² + 2d·f) + d·E + E·V) + 12·L·d·T]
      ELECTRA's discriminator (a d→d dense and one logit per token; E→d projection when E ≠ d):
          B·T · [6·(E·d + L·(4d² + 2d·f) + d² + d) + 12·L·d·T]
      encoder-decoder, source S, target T (cross-attention K/V projections run on the source tokens):
          B·S · [6·L·(4d² + 2d·f) + 12·L·d·S + 6·L·2d²]
        + B·T · [6·(L·(6d² + 2d·f) + d·V) + 12·L·d·T + 12·L·d·S]

    Embedding lookups, LayerNorms, biases, softmax and the NSP/pooler head are left out (< 1% at these sizes).
    MFU = this count × steps/s ÷ the device's peak dense TFLOP/s (`--peak-tflops`).
    """
    d, f, v, n = shape.d_model, shape.ffn, shape.vocab, shape.layers
    b, s, t = shape.batch, shape.length, shape.target_length
    if twin.kind == "causal":
        return b * s * (6 * (n * (4 * d * d + 2 * d * f) + d * v) + 12 * n * d * s)
    e = shape.embedding_size
    projection = e * d if e and e != d else 0
    if twin.kind in ("mlm-nsp", "mlm-sop", "mlm"):
        head = d * e + e * v if e and e != d else d * d + d * v
        return b * s * (6 * (projection + n * (4 * d * d + 2 * d * f) + head) + 12 * n * d * s)
    if twin.kind == "rtd":
        return b * s * (6 * (projection + n * (4 * d * d + 2 * d * f) + d * d + d) + 12 * n * d * s)
    encoder = b * s * (6 * n * (4 * d * d + 2 * d * f) + 12 * n * d * s + 6 * n * 2 * d * d)
    decoder = b * t * (6 * (n * (6 * d * d + 2 * d * f) + d * v) + 12 * n * d * t + 12 * n * d * s)
    return float(encoder + decoder)


def generation_inputs(twin: Twin, shape: Shape, batch: int, length: int, device: torch.device,
                      seed: int = 2) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed + batch)
    ids = torch.randint(3, shape.vocab - 1, (batch, length), generator=g)
    return {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device)}


__all__ = ["GROUPS", "KINDS", "PROFILES", "Shape", "TWINS", "Twin", "build_hf", "generation_inputs",
           "train_batch", "train_flops", "train_tokens", "twin_named", "twins_named"]

