"""Fault table of the model: configurations, forward inputs, generate prompts and loading paths that must fail early
with an error naming the bad value and the limit (never a torch traceback, a silent typo or a wrong result)."""

import json
import os
import struct
import tempfile

import pytest
import torch
from tiny import tiny_config
from faults.fault_case import Fault, check, params

import tobigs_transformer as tt
from tobigs_transformer import TobigsConfig
from tobigs_transformer.model.finite_weights import CorruptWeightsError


def ids(*shape, low=3, high=98):
    return torch.randint(low, high, shape)


def gpt2(**overrides):
    return tt.TobigsForCausalLM(tiny_config("gpt2", **overrides)).eval()


def with_value(tensor, index, value):
    tensor = tensor.clone()
    tensor[index] = value
    return tensor


def changed_config(**changes):
    config = tiny_config("gpt2")
    for name, value in changes.items():
        setattr(config, name, value)
    return config


def both_cache_names():
    model = gpt2()
    cache = model(ids(1, 3), use_cache=True).cache
    return model(ids(1, 1), cache=cache, past_key_values=cache)


CONFIG = [
    Fault(id="config-unknown-key", action=lambda: TobigsConfig(d_modle=128), error=ValueError,
          needles=("'d_modle'", "did you mean 'd_model'"),
          guarantee="A misspelt config key raises, naming it and the closest field, instead of being saved unused."),
    Fault(id="config-unknown-key-preset", action=lambda: TobigsConfig.from_preset("gpt2", d_modle=128),
          error=ValueError, needles=("'d_modle'", "'d_model'"),
          guarantee="from_preset rejects a misspelt override the same way as the constructor."),
    Fault(id="config-unknown-key-alias", action=lambda: TobigsConfig.check_keys(["num_hidden_layer"]),
          error=ValueError, needles=("'num_hidden_layer'", "'num_hidden_layers'"),
          guarantee="check_keys (for overrides set on an existing config) names the unknown key and the closest one."),
    Fault(id="config-unknown-key-no-match", action=lambda: TobigsConfig(colour="blue"), error=ValueError,
          needles=("'colour'", "the fields are: architecture"),
          guarantee="An unknown key with no close field lists the fields that exist."),
    Fault(id="config-heads-divide", action=lambda: TobigsConfig(d_model=100, encoder_attention_heads=8),
          error=ValueError, needles=("d_model=100", "encoder_attention_heads=8"),
          guarantee="Heads that do not divide d_model fail at construction, naming both."),
    Fault(id="config-changed-after-construction", action=lambda: tt.TobigsForCausalLM(changed_config(d_model=30)),
          error=ValueError, needles=("d_model=30", "decoder_attention_heads=4"),
          guarantee="A config edited after construction is validated again when a model is built from it."),
    Fault(id="config-changed-token-id", action=lambda: tt.TobigsForCausalLM(changed_config(pad_token_id=500)),
          error=ValueError, needles=("pad_token_id=500", "vocab_size=99"),
          guarantee="A special-token id set outside the vocabulary after construction fails at model build."),
    Fault(id="config-preset-vocab-too-small", action=lambda: TobigsConfig.from_preset("bart-base", vocab_size=2),
          error=ValueError, needles=("eos_token_id=2", "vocab_size=2"),
          guarantee="A vocabulary too small for a preset's special ids (even counted from the end) raises."),
    Fault(id="config-explicit-id-outside-vocab",
          action=lambda: TobigsConfig.from_preset("gpt2", vocab_size=99, bos_token_id=150), error=ValueError,
          needles=("bos_token_id=150", "vocab_size=99"),
          guarantee="An explicitly passed special-token id is never remapped and must fit the vocabulary."),
    Fault(id="config-unknown-preset", action=lambda: TobigsConfig.from_preset("gpt5"), error=ValueError,
          needles=("'gpt5'", "gpt2"), guarantee="An unknown preset name lists the available presets."),
    Fault(id="config-activation", action=lambda: TobigsConfig(activation_function="tanhh"), error=ValueError,
          needles=("'tanhh'", "'gelu'"), guarantee="An unsupported activation names the supported ones."),
    Fault(id="config-dropout-range", action=lambda: TobigsConfig(dropout=1.0), error=ValueError,
          needles=("1.0", "[0, 1)"), guarantee="A dropout probability outside [0, 1) is rejected."),
    Fault(id="config-scale-residual-init-needs-normal",
          action=lambda: TobigsConfig(init_method="xavier_uniform", scale_residual_init=True), error=ValueError,
          needles=("scale_residual_init", "init_method='normal'", "'xavier_uniform'"),
          guarantee="GPT-2's scaled residual init is only combined with the normal init it scales."),
    Fault(id="config-vocab-size-zero", action=lambda: TobigsConfig(vocab_size=0), error=ValueError,
          needles=("vocab_size", "> 0", "0"), guarantee="Sizes must be positive."),
    Fault(id="config-activation-checkpointing", action=lambda: TobigsConfig(activation_checkpointing="attn"),
          error=ValueError, needles=("activation_checkpointing='attn'", "'none'", "'ffn_activation'", "'layer'"),
          guarantee="An unknown activation-checkpointing setting names the settings there are (issue 22)."),
]

FORWARD = [
    Fault(id="forward-labels-outside-vocab",
          action=lambda: gpt2()(ids(2, 5), labels=with_value(ids(2, 5), (1, 2), 150)),
          error=ValueError, needles=("labels contains 150", "vocab_size=99"),
          guarantee="Causal-LM labels outside the vocabulary raise before cross-entropy's IndexError/device assert."),
    Fault(id="forward-negative-label",
          action=lambda: tt.TobigsForMaskedLM(tiny_config("bert-base"))(ids(2, 5),
                                                                         labels=with_value(ids(2, 5), (0, 0), -5)),
          error=ValueError, needles=("labels contains -5", "vocab_size=99", "-100"),
          guarantee="Negative MLM labels other than -100 are rejected, naming the ignore index."),
    Fault(id="forward-seq2seq-labels-outside-vocab",
          action=lambda: tt.TobigsForConditionalGeneration(tiny_config("bart-base"))(
              ids(2, 5), labels=with_value(ids(2, 4), (0, 1), 99)),
          error=ValueError, needles=("labels contains 99", "vocab_size=99"),
          guarantee="Seq2seq labels outside the vocabulary raise before being shifted into decoder inputs."),
    Fault(id="forward-shift-labels-outside-vocab",
          action=lambda: gpt2()(ids(2, 5), shift_labels=with_value(ids(2, 5), (0, 4), 120)), error=ValueError,
          needles=("shift_labels contains 120", "vocab_size=99"),
          guarantee="Pre-shifted causal-LM targets are range-checked like labels."),
    Fault(id="forward-token-classification-label",
          action=lambda: tt.TobigsForTokenClassification(tiny_config("bert-base", num_labels=2))(
              ids(2, 5), labels=with_value(torch.zeros(2, 5, dtype=torch.long), (1, 1), 2)),
          error=ValueError, needles=("labels contains 2", "num_labels=2"),
          guarantee="Token-classification labels must be < num_labels (or -100)."),
    Fault(id="forward-sequence-classification-label",
          action=lambda: tt.TobigsForSequenceClassification(tiny_config("bert-base", num_labels=2))(
              ids(2, 5), labels=torch.tensor([1, 5])),
          error=ValueError, needles=("labels contains 5", "num_labels=2"),
          guarantee="Sequence-classification class indices must be < num_labels."),
    Fault(id="forward-next-sentence-label",
          action=lambda: tt.TobigsForNextSentencePrediction(tiny_config("bert-base"))(ids(2, 5),
                                                                                      labels=torch.tensor([0, 2])),
          error=ValueError, needles=("labels contains 2", "NSP classes=2"),
          guarantee="NSP labels are 0 or 1."),
    Fault(id="forward-multiple-choice-label",
          action=lambda: tt.TobigsForMultipleChoice(tiny_config("bert-base"))(ids(2, 2, 5),
                                                                              labels=torch.tensor([0, 3])),
          error=ValueError, needles=("labels contains 3", "num_choices=2"),
          guarantee="A multiple-choice label must index one of the choices."),
    Fault(id="forward-position-ids-beyond-table",
          action=lambda: gpt2()(ids(2, 5), position_ids=torch.arange(60, 65).expand(2, 5)), error=ValueError,
          needles=("position_ids contains 64", "max_position_embeddings=64"),
          guarantee="Explicit position ids past the position table raise instead of an index error."),
    Fault(id="forward-negative-position-ids",
          action=lambda: tt.TobigsModel(tiny_config("bert-base"))(ids(1, 3), position_ids=torch.tensor([[-1, 0, 1]])),
          error=ValueError, needles=("position_ids contains -1", "max_position_embeddings=64"),
          guarantee="Negative position ids are rejected (they would wrap around the table)."),
    Fault(id="forward-mask-1d", action=lambda: gpt2()(ids(2, 5), attention_mask=torch.ones(5)), error=ValueError,
          needles=("(5,)", "(2, 5)", "2-D"),
          guarantee="A 1-D attention mask is rejected, naming its shape and the expected one (was broadcast)."),
    Fault(id="forward-mask-wrong-length",
          action=lambda: tt.TobigsModel(tiny_config("bert-base"))(ids(2, 5), attention_mask=torch.ones(2, 6)),
          error=ValueError, needles=("(2, 6)", "(2, 5)"),
          guarantee="A mask whose length differs from the ids names both shapes."),
    Fault(id="forward-seq2seq-mask-1d",
          action=lambda: tt.TobigsForConditionalGeneration(tiny_config("bart-base"))(
              ids(2, 5), attention_mask=torch.ones(5), decoder_input_ids=ids(2, 3)),
          error=ValueError, needles=("(5,)", "(2, 5)"),
          guarantee="The encoder's attention mask is shape-checked like the decoder's."),
    Fault(id="forward-mask-value-two",
          action=lambda: gpt2()(ids(1, 5), attention_mask=torch.tensor([[1, 1, 2, 1, 1]])), error=ValueError,
          needles=("attention_mask contains 2", "1 (attend)", "0 (padding)"),
          guarantee="Mask values other than 0/1 raise instead of silently shifting positions."),
    Fault(id="forward-additive-mask",
          action=lambda: tt.TobigsModel(tiny_config("bert-base"))(
              ids(1, 3), attention_mask=torch.tensor([[0.0, 0.0, -10000.0]])),
          error=ValueError, needles=("-10000.0", "0 (padding)"),
          guarantee="An additive (0/-inf style) mask is rejected instead of being read with inverted meaning."),
    Fault(id="forward-empty-sequence", action=lambda: gpt2()(ids(2, 0)), error=ValueError,
          needles=("input_ids is empty", "(2, 0)", ">= 1"),
          guarantee="A length-0 input raises a ValueError, not a reshape error inside attention."),
    Fault(id="forward-empty-batch", action=lambda: tt.TobigsModel(tiny_config("bert-base"))(ids(0, 5)),
          error=ValueError, needles=("(0, 5)", ">= 1"), guarantee="A batch of 0 rows raises a ValueError."),
    Fault(id="forward-empty-decoder-input",
          action=lambda: tt.TobigsForConditionalGeneration(tiny_config("bart-base"))(ids(2, 5),
                                                                                     decoder_input_ids=ids(2, 0)),
          error=ValueError, needles=("decoder_input_ids is empty", "(2, 0)"),
          guarantee="An empty decoder input is named by its own argument name."),
    Fault(id="forward-inputs-embeds-dtype",
          action=lambda: gpt2()(inputs_embeds=torch.zeros(2, 5, 32, dtype=torch.float64)), error=ValueError,
          needles=("torch.float64", "torch.float32"),
          guarantee="inputs_embeds of another dtype than the parameters name both dtypes (was 'mixed dtype')."),
    Fault(id="forward-inputs-embeds-width",
          action=lambda: tt.TobigsModel(tiny_config("bert-base"))(inputs_embeds=torch.zeros(2, 5, 16)),
          error=ValueError, needles=("(2, 5, 16)", "d_model=32"),
          guarantee="inputs_embeds of the wrong width name the expected d_model."),
    Fault(id="forward-both-cache-names", action=both_cache_names, error=ValueError,
          needles=("past_key_values", "cache"),
          guarantee="Passing the cache under both its name and its deprecated name is an error, not a silent choice."),
    Fault(id="forward-parameters-float8", action=lambda: gpt2().to(torch.float8_e4m3fn)(ids(1, 3)), error=ValueError,
          needles=("parameters is torch.float8_e4m3fn", "without arithmetic kernels", "torch.bfloat16"),
          guarantee="A model cast to a dtype no kernel computes in (float8, complex) says so (was 'add_stub not "
                    "implemented for Float8_e4m3fn')."),
]

def xl(**overrides):
    return tt.TobigsForCausalLM(tiny_config("transformer-xl", mem_len=8, **overrides)).eval()


def memory_of_batch(batch: int):
    return xl()(ids(batch, 4)).mems


MEMORY = [  # Transformer-XL's relative positions and segment memory
    Fault(id="xl-mem-len-absolute-positions",
          action=lambda: tiny_config("transformer-xl", mem_len=8, position_embedding_type="learned"), error=ValueError,
          needles=("mem_len=8", "position_embedding_type='relative'", "'learned'"),
          guarantee="Memory with absolute positions (their positions would collide across segments) is refused."),
    Fault(id="xl-relative-encoder-decoder",
          action=lambda: tiny_config("transformer-base", position_embedding_type="relative"), error=ValueError,
          needles=("'relative'", "decoder-only", "'encoder-decoder'"),
          guarantee="Relative positions name the architecture they are built for."),
    Fault(id="xl-clamp-len-zero", action=lambda: tiny_config("transformer-xl", clamp_len=0), error=ValueError,
          needles=("clamp_len", ">= 1", "0"), guarantee="A clamp length below 1 is refused, naming the value."),
    Fault(id="xl-same-length-without-memory",
          action=lambda: tiny_config("transformer-xl", mem_len=0, same_length=True), error=ValueError,
          needles=("same_length=True", "mem_len > 0", "mem_len=0"),
          guarantee="Same-length attention (every query sees mem_len tokens) without a memory length is refused."),
    Fault(id="xl-same-length-absolute-positions",
          action=lambda: tiny_config("gpt2", same_length=True), error=ValueError,
          needles=("same_length=True", "position_embedding_type='relative'", "'learned'"),
          guarantee="Same-length attention asked of a model without relative positions is refused, not ignored."),
    Fault(id="final-layer-norm-off-post-ln",
          action=lambda: tiny_config("transformer-xl", final_layer_norm=False), error=ValueError,
          needles=("final_layer_norm=False", "normalize_before=True", "post-LN"),
          guarantee="Removing the final LayerNorm of a post-LN stack (which has none) is refused, not ignored."),
    Fault(id="xl-mems-batch-mismatch", action=lambda: xl()(ids(3, 4), mems=memory_of_batch(2)), error=ValueError,
          needles=("(2, 4, 32)", "batch=3"),
          guarantee="Memory from another batch of streams is refused, naming both batch sizes."),
    Fault(id="xl-mems-without-mem-len",
          action=lambda: tt.TobigsForCausalLM(tiny_config("transformer-xl", mem_len=0))(ids(2, 4),
                                                                                        mems=memory_of_batch(2)),
          error=ValueError, needles=("keeps no memory", "mem_len=0"),
          guarantee="Memory given to a model that keeps none is an error, not ignored."),
    Fault(id="xl-mems-wrong-layer-count", action=lambda: xl()(ids(2, 4), mems=memory_of_batch(2)[:1]),
          error=ValueError, needles=("one tensor per layer", "(2)", "1"),
          guarantee="Memory with the wrong number of layers names both counts."),
    Fault(id="xl-mems-encoder-only",
          action=lambda: tt.TobigsModel(tiny_config("bert-base"))(ids(2, 4), mems=memory_of_batch(2)),
          error=ValueError, needles=("mems", "decoder-only", "'encoder-only'"),
          guarantee="Memory passed to a model without a decoder stack is refused."),
    Fault(id="xl-packed-rows",
          action=lambda: xl()(ids(1, 6), position_ids=torch.tensor([[0, 1, 2, 0, 1, 2]])), error=ValueError,
          needles=("packed rows", "relative"),
          guarantee="Packed rows, whose sequences relative attention cannot keep apart, are refused."),
    Fault(id="xl-mems-other-dtype",
          action=lambda: xl()(ids(2, 4), mems=tuple(m.to(torch.bfloat16) for m in memory_of_batch(2))),
          error=ValueError, needles=("mems[0] has dtype torch.bfloat16", "torch.float32", "m.to(torch.float32)"),
          guarantee="Memory of another dtype names both dtypes and the cast (was 'mat1 and mat2 must have the same "
                    "dtype')."),
    Fault(id="xl-mems-other-device",
          action=lambda: xl()(ids(2, 4), mems=tuple(m.to("meta") for m in memory_of_batch(2))),
          error=ValueError, needles=("mems[0] is on meta", "inputs are on cpu", "m.to('cpu')"),
          guarantee="Memory on another device than the inputs names both devices (was a device mismatch inside the "
                    "first layer)."),
]

def adaptive_xl(**overrides):
    settings = dict(adaptive_input=True, adaptive_softmax=True, cutoffs=[20, 50], div_val=2)
    return tiny_config("transformer-xl", **{**settings, **overrides})


ADAPTIVE = [  # adaptive input and adaptive softmax (Transformer-XL's cutoffs, div_val, tie_projs)
    Fault(id="adaptive-cutoffs-not-increasing", action=lambda: adaptive_xl(cutoffs=[50, 20]), error=ValueError,
          needles=("cutoffs=[50, 20]", "increasing", "vocab_size=99", "20 is not in (50, 99)"),
          guarantee="Cluster boundaries out of order are refused, naming the boundary and its interval."),
    Fault(id="adaptive-cutoff-past-vocab", action=lambda: adaptive_xl(cutoffs=[20, 99]), error=ValueError,
          needles=("cutoffs=[20, 99]", "vocab_size=99", "99 is not in (20, 99)"),
          guarantee="A boundary at or past vocab_size (an empty last cluster) is refused; the last cluster ends "
                    "at vocab_size by itself."),
    Fault(id="adaptive-cutoff-zero", action=lambda: adaptive_xl(cutoffs=[0, 50]), error=ValueError,
          needles=("cutoffs=[0, 50]", "0 is not in (0, 99)"),
          guarantee="A boundary at 0 (an empty head cluster) is refused."),
    Fault(id="adaptive-div-val-zero", action=lambda: adaptive_xl(div_val=0), error=ValueError,
          needles=("div_val", ">= 1", "0"), guarantee="A width divisor below 1 is refused, naming the value."),
    Fault(id="adaptive-width-zero", action=lambda: adaptive_xl(div_val=8), error=ValueError,
          needles=("embedding_size // div_val**2", "32 // 64 = 0", "lower div_val"),
          guarantee="A cluster that would be 0 wide is refused, naming the width computation."),
    Fault(id="adaptive-tie-projs-length", action=lambda: adaptive_xl(tie_projs=[False, True]), error=ValueError,
          needles=("tie_projs has 2 values", "len(cutoffs) + 1 = 3"),
          guarantee="tie_projs must give one value per cluster; a short list names both counts."),
    Fault(id="adaptive-encoder-decoder", action=lambda: tiny_config("transformer-base", adaptive_softmax=True),
          error=ValueError, needles=("adaptive_input / adaptive_softmax", "decoder-only", "'encoder-decoder'"),
          guarantee="Adaptive input and softmax name the architecture they are built for."),
    Fault(id="adaptive-encoder-only", action=lambda: tiny_config("bert-base", adaptive_input=True),
          error=ValueError, needles=("decoder-only", "'encoder-only'"),
          guarantee="An encoder-only model with adaptive input is refused."),
    Fault(id="adaptive-cutoffs-without-adaptive", action=lambda: tiny_config("gpt2", cutoffs=[20, 50]),
          error=ValueError, needles=("cutoffs=[20, 50]", "both off", "adaptive_softmax=True"),
          guarantee="Cluster settings without adaptive input or softmax are an error, not silently unused."),
    Fault(id="adaptive-tie-one-side", action=lambda: adaptive_xl(adaptive_input=False), error=ValueError,
          needles=("tie_word_embeddings=True with adaptive_softmax alone", "tie_word_embeddings=False"),
          guarantee="Tying asked for with only one adaptive side (nothing of the same shape to tie to) is refused."),
    Fault(id="adaptive-tie-projs-one-side",
          action=lambda: adaptive_xl(adaptive_input=False, tie_word_embeddings=False,
                                     tie_projs=[False, True, True]),
          error=ValueError, needles=("tie_projs=[False, True, True]", "adaptive_input=True and adaptive_softmax=True"),
          guarantee="Projections to tie with no adaptive input to tie them to are refused."),
    Fault(id="adaptive-label-smoothing", action=lambda: adaptive_xl(label_smoothing=0.1), error=ValueError,
          needles=("label_smoothing=0.1", "adaptive_softmax=True", "0.0"),
          guarantee="Label smoothing, which the adaptive softmax's loss cannot compute, is refused in the config."),
    Fault(id="adaptive-resize-token-embeddings",
          action=lambda: tt.TobigsForCausalLM(adaptive_xl()).resize_token_embeddings(120), error=ValueError,
          needles=("resize_token_embeddings", "cutoffs=[20, 50]", "new vocab_size"),
          guarantee="Resizing an adaptive vocabulary (one table per cluster) is refused with the reason (was "
                    "\"'AdaptiveEmbedding' object has no attribute 'weight'\")."),
    Fault(id="adaptive-label-smoothing-forward",
          action=lambda: tt.TobigsForCausalLM(adaptive_xl(mem_len=8)).train()(ids(2, 6), labels=ids(2, 6),
                                                                             label_smoothing=0.1),
          error=ValueError, needles=("label_smoothing=0.1", "adaptive_softmax=True"),
          guarantee="Label smoothing passed to the forward of an adaptive-softmax model raises too, never ignored."),
]

GENERATE = [
    Fault(id="generate-empty-prompt", action=lambda: gpt2().generate(ids(1, 0), max_new_tokens=2), error=ValueError,
          needles=("empty prompt", "(1, 0)", ">= 1", "bos_token_id=98"),
          guarantee="An empty decoder-only prompt raises early and says how to start from bos instead."),
    Fault(id="generate-empty-batch", action=lambda: gpt2().generate(ids(0, 4), max_new_tokens=2), error=ValueError,
          needles=("(0, 4)", ">= 1"), guarantee="A prompt batch of 0 rows raises early."),
    Fault(id="generate-empty-prompt-no-bos",
          action=lambda: gpt2(bos_token_id=None).generate(input_ids=ids(1, 0), max_new_tokens=2), error=ValueError,
          needles=("input_ids has shape (1, 0)", "no bos_token_id (None)"),
          guarantee="An empty prompt on a model without bos says there is nothing to start from."),
    Fault(id="generate-no-prompt-no-bos",
          action=lambda: gpt2(bos_token_id=None).generate(max_new_tokens=2), error=ValueError,
          needles=("bos_token_id=None", "length >= 1"),
          guarantee="generate() with neither a prompt nor a bos token fails naming both."),
    Fault(id="generate-empty-source",
          action=lambda: tt.TobigsForConditionalGeneration(tiny_config("bart-base")).generate(ids(1, 0),
                                                                                             max_new_tokens=2),
          error=ValueError, needles=("(1, 0)", ">= 1"),
          guarantee="An empty source sentence for a seq2seq model raises before the encoder runs."),
    Fault(id="generate-past-the-positions",
          action=lambda: gpt2().generate(ids(1, 60), max_new_tokens=10, min_new_tokens=10, suppress_tokens=[98]),
          error=ValueError, needles=("exceeds", "max_position_embeddings=64"),
          guarantee="Generating past the position table is an error, never a silent truncation."),
    Fault(id="generate-mask-values",
          action=lambda: gpt2().generate(ids(1, 4), attention_mask=torch.tensor([[1, 2, 1, 1]]), max_new_tokens=2),
          error=ValueError, needles=("attention_mask contains 2", "0 (padding)"),
          guarantee="generate checks the prompt mask's values through forward."),
]

def refusing_forward(model, encoder: bool = False):
    """``model`` whose forward (each decode step) raises RuntimeError, and with ``encoder`` its encoder's too: a
    generate() row that raises ValueError instead failed before the first decode step (before the encoder ran)."""
    def refuse(module, args, kwargs):
        raise RuntimeError(f"{type(module).__name__}.forward ran before the check")

    for module in (model, *([model.get_encoder()] if encoder else [])):
        module.register_forward_pre_hook(refuse, with_kwargs=True)
    return model


def bart():
    return tt.TobigsForConditionalGeneration(tiny_config("bart-base")).eval()


GENERATE += [
    Fault(id="generate-mems-batch-mismatch",
          action=lambda: refusing_forward(xl()).generate(ids(2, 3), mems=memory_of_batch(1), max_new_tokens=2),
          error=ValueError, needles=("mems for a batch of 1 stream(s)", "2 prompt(s)", "m.expand(2, -1, -1)"),
          guarantee="generate() refuses the memory of one stream for a batch of prompts (it was copied into every "
                    "row), naming both batch sizes and how to broadcast it on purpose."),
    Fault(id="generate-prompt-plus-new-over-positions",
          action=lambda: refusing_forward(gpt2()).generate(ids(1, 60), max_new_tokens=6), error=ValueError,
          needles=("prompt length 60", "max_new_tokens 6", "max_position_embeddings=64", "at most max_new_tokens=5"),
          guarantee="A prompt and max_new_tokens that would run past the learned position table fail before the "
                    "first decode step, naming the prompt length, max_new_tokens and the limit."),
    Fault(id="generate-seq2seq-decoder-over-positions",
          action=lambda: refusing_forward(bart()).generate(ids(1, 5), max_new_tokens=65), error=ValueError,
          needles=("decoder prompt", "length 1", "max_new_tokens 65", "max_position_embeddings=64"),
          guarantee="A seq2seq max_new_tokens beyond the decoder's positions fails before the first decode step."),
    Fault(id="generate-seq2seq-source-over-positions",
          action=lambda: refusing_forward(bart(), encoder=True).generate(ids(1, 65), max_new_tokens=2),
          error=ValueError,
          needles=("source of 65 tokens", "encoder's max_position_embeddings=64"),
          guarantee="A source longer than the encoder's positions fails in generate() before the encoder runs."),
]
_DIR = tempfile.mkdtemp(prefix="tobigs-faults-model-")


def _saved_gpt2(name: str) -> str:
    folder = os.path.join(_DIR, name)
    gpt2().save_pretrained(folder)
    return folder


def _damaged_folder() -> str:
    """A saved model whose file body has one float32 of fc1.weight turned into a NaN (header intact)."""
    folder = _saved_gpt2("nan")
    path = os.path.join(folder, "model.safetensors")
    with open(path, "r+b") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        offsets = json.loads(f.read(length))["model.decoder.layers.0.feed_forward.fc1.weight"]["data_offsets"]
        f.seek(8 + length + offsets[0])
        f.write(b"\x00\x00\xc0\x7f")  # NaN
    return folder


LOADING = [
    Fault(id="load-missing-relative-dir", action=lambda: tt.TobigsForCausalLM.from_pretrained("./no/such/dir"),
          error=FileNotFoundError, needles=("no such directory", "'./no/such/dir'"),
          guarantee="A missing local model folder says 'no such directory', not a Hub repo-id message."),
    Fault(id="load-missing-config-home-dir", action=lambda: TobigsConfig.from_pretrained("~/no-such-tobigs-dir"),
          error=FileNotFoundError, needles=("no such directory", "'~/no-such-tobigs-dir'"),
          guarantee="TobigsConfig.from_pretrained treats ~ paths as local and names the missing one."),
    Fault(id="load-missing-nested-checkpoint",
          action=lambda: tt.TobigsForConditionalGeneration.from_pretrained("runs/exp1/checkpoint-5"),
          error=FileNotFoundError, needles=("no such directory", "'runs/exp1/checkpoint-5'"),
          guarantee="A relative path with several separators is local, not an owner/name repo id."),
    Fault(id="load-missing-windows-path", action=lambda: TobigsConfig.from_pretrained("C:\\models\\tobigs"),
          error=FileNotFoundError, needles=("no such directory", "models"),
          guarantee="A Windows-style path is treated as local."),
    Fault(id="load-non-finite-weights", action=lambda: tt.TobigsForCausalLM.from_pretrained(_damaged_folder()),
          error=CorruptWeightsError,
          needles=(os.path.join(_DIR, "nan", "model.safetensors"), "'model.decoder.layers.0.feed_forward.fc1.weight'",
                   "1 NaN",
                   "weights must be finite"),
          guarantee="A safetensors file whose body was damaged into NaN/inf is refused on load, naming the file and "
                    "the tensor (was loaded silently)."),
    Fault(id="load-dtype-float8",
          action=lambda: tt.TobigsForCausalLM.from_pretrained(_saved_gpt2("float8"), dtype=torch.float8_e4m3fn),
          error=ValueError, needles=("dtype for TobigsForCausalLM.from_pretrained is torch.float8_e4m3fn",
                                     "torch.float32, torch.bfloat16 or torch.float16"),
          guarantee="Loading in a dtype the model cannot compute in says so (was 'couldn't find storage object "
                    "Float8_e4m3fnStorage')."),
]


FAULTS = CONFIG + FORWARD + MEMORY + ADAPTIVE + GENERATE + LOADING


@pytest.mark.parametrize("fault", params(FAULTS))
def test_fault(fault):
    check(fault)
