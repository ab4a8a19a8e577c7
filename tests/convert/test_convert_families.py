"""Every transformers family <-> the Tobigs classes, one parametrised module: identical outputs and losses on
right-padded batches, identical greedy and beam tokens, exact round trip of the state dict, save/reload
(`check_parity`); export of models built here; presets equal to the released configs; what a family cannot express
is refused with a message naming it. Family-specific checks follow as their own tests. Tiny random models, fp32,
no downloads.

Families: GPT-2, OpenAI GPT, CTRL (decoder-only); BERT, RoBERTa, ALBERT, ELECTRA (encoder-only); BART, Marian,
Pegasus (encoder-decoder). Marian and Pegasus store their sinusoid tables (sines, then cosines); ours are rebuilt
from the config with `sinusoidal_layout="concatenated"`.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch
from convert.convert_cases import (
    assert_same_outputs,
    assert_same_state_dict,
    check_parity,
    outputs_of,
    randomize_,
    right_padded,
    tiny_hf,
)
from pipeline_support import seq2seq_tokenizer
from tiny import TINY, tiny_config
from transformers import (
    AlbertConfig,
    CTRLConfig,
    ElectraConfig,
    MarianConfig,
    OpenAIGPTConfig,
    PegasusConfig,
    RobertaConfig,
    pipeline,
)

from tobigs_transformer import (
    TobigsConfig,
    TobigsForCausalLM,
    TobigsForConditionalGeneration,
    TobigsForMaskedLM,
    TobigsForPreTraining,
    TobigsForReplacedTokenDetection,
    TobigsForSequenceClassification,
)
from tobigs_transformer.convert import ConversionError, convert_config_from_hf, convert_from_hf, convert_to_hf
from tobigs_transformer.model.positional_encoding import sinusoidal_table

# ---------------------------------------------------------------------------------------------------------------
# Tiny models and batches per family.
# ---------------------------------------------------------------------------------------------------------------

# Where a family's tests used other settings than convert_cases.TINY_HF.
HF_OVERRIDES = {
    "albert": dict(num_hidden_groups=1, num_labels=2),
    "electra": dict(num_labels=3),
    "roberta": dict(layer_norm_eps=1e-5),
    "pegasus": dict(pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, forced_eos_token_id=1),
}
# (pad, eos) of the encoder-decoder families' tiny configs.
SEQ2SEQ_IDS = {"bart": (1, 2), "marian": (98, 0), "pegasus": (0, 1)}
# [low, high) of the random ids.
ID_RANGE = {"bart": (3, 99), "marian": (1, 98), "pegasus": (2, 98), "bert": (1, 99), "electra": (1, 99),
            "albert": (4, 99), "roberta": (3, 99)}


def build(family: str, class_name: str, **overrides):
    """A tiny randomly initialised transformers model of `family`, in eval mode."""
    # (randomize_ leaves Marian's and Pegasus' fixed sinusoid tables alone.)
    return tiny_hf(family, class_name, **{**HF_OVERRIDES.get(family, {}), **overrides})


def batch(family: str) -> dict:
    """A right-padded batch of 3: `input_ids`, `attention_mask` (two segments in `token_type_ids` for BERT, ALBERT
    and ELECTRA) and, for the encoder-decoder families, target `labels` (-100 under padding)."""
    if family in ("gpt2", "openai-gpt", "ctrl"):
        input_ids, attention_mask = right_padded(3, [9, 6, 4], 1, 98, pad=0)
        return dict(input_ids=input_ids, attention_mask=attention_mask)
    low, high = ID_RANGE[family]
    if family in SEQ2SEQ_IDS:
        pad, eos = SEQ2SEQ_IDS[family]
        input_ids, attention_mask = right_padded(3, [9, 6, 4], low, high, pad=pad, eos=eos)
        labels, decoder_mask = right_padded(3, [5, 7, 3], low, high, pad=pad, eos=eos)
        return dict(input_ids=input_ids, attention_mask=attention_mask,
                    labels=labels.masked_fill(decoder_mask == 0, -100))
    if family == "roberta":
        input_ids, attention_mask = right_padded(3, [10, 7, 4], low, high, pad=1)
        input_ids[:, 0] = 0  # <s>
        return dict(input_ids=input_ids, attention_mask=attention_mask)
    input_ids, attention_mask = right_padded(3, [10, 7, 4], low, high, pad=0)
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, 5:] = 1
    return dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids * attention_mask)


def source_of(inputs: dict) -> dict:
    return {k: v for k, v in inputs.items() if k != "labels"}


# Label builders: (family, inputs) -> the extra model arguments.
def no_labels(family, inputs):
    return source_of(inputs)


def causal_labels(family, inputs):
    return {**inputs, "labels": inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)}


def seq2seq_labels(family, inputs):
    return inputs


def decoder_inputs(family, inputs):
    pad, _ = SEQ2SEQ_IDS[family]
    return {**source_of(inputs), "decoder_input_ids": inputs["labels"].masked_fill(inputs["labels"] == -100, pad)}


def mlm_labels(family, inputs):
    labels = torch.full_like(inputs["input_ids"], -100)
    labels[:, 1:4] = inputs["input_ids"][:, 1:4]
    return {**inputs, "labels": labels}


def fixed(**labels):
    return lambda family, inputs: {**source_of(inputs), **labels}


def with_mlm(**extra):
    return lambda family, inputs: {**mlm_labels(family, inputs), **extra}


def replaced_labels(family, inputs):  # ELECTRA's discriminator: 1 = replaced
    return {**inputs, "labels": (inputs["input_ids"] % 3 == 0).long()}


def token_labels(family, inputs):
    return {**inputs, "labels": inputs["input_ids"] % 3}


def multiple_choice(family, inputs):
    choices = {name: torch.stack([value, value.roll(1, dims=0)], dim=1) for name, value in inputs.items()}  # (B, 2, T)
    return {**choices, "labels": torch.tensor([1, 0, 1])}


def two_token_types(family, inputs):
    token_type_ids = torch.zeros_like(inputs["input_ids"])
    token_type_ids[:, 5:] = 1
    return {**inputs, "token_type_ids": token_type_ids, "labels": torch.tensor([0.5, -1.0, 2.0])}


# Generation inputs: (family, inputs) -> (generate inputs, generate kwargs).
def left_padded_prompt(family, inputs):
    # A LEFT-padded prompt: transformers' generate derives GPT-2's position ids from the mask, as our model does.
    prompt = torch.randint(1, 98, (2, 6))
    prompt_mask = torch.ones_like(prompt)
    prompt[0, :2], prompt_mask[0, :2] = 0, 0
    return dict(input_ids=prompt, attention_mask=prompt_mask), dict(pad_token_id=0)


def unpadded_prompt(family, inputs):
    # OpenAI GPT and CTRL count positions 0..T-1 whatever the mask (OpenAI GPT keeps no cache): unpadded prompts.
    return dict(input_ids=torch.randint(1, 98, (2, 5))), dict(pad_token_id=0)


def the_source(family, inputs):
    return source_of(inputs), None


# ---------------------------------------------------------------------------------------------------------------
# check_parity for every supported class of every family.
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Pair:
    family: str
    class_name: str
    make_inputs: Callable = no_labels
    overrides: dict = field(default_factory=dict)
    generate: Callable | None = None
    prepare: Callable | None = None  # (hf model) -> None, before conversion
    check: Callable | None = None  # (ours, hf model) -> None, after check_parity
    name: str = ""

    @property
    def id(self) -> str:
        return f"{self.family}-{self.class_name}" + (f"-{self.name}" if self.name else "")


def _gpt2_untied(ours, hf):
    assert not torch.equal(hf.lm_head.weight, hf.transformer.wte.weight)
    assert not ours.config.tie_word_embeddings


def _bart_generation(ours, hf):
    assert ours.config.position_offset == 2 and ours.config.lm_head_bias
    assert ours.generation_config.forced_eos_token_id == 2


def _ctrl_lm(ours, hf):
    assert ours.config.sinusoidal_layout == "concatenated" and ours.config.normalize_before
    assert ours.lm_head.bias is not None


def _openai_lm(ours, hf):
    assert ours.config.activation_function == "gelu_new" and not ours.config.normalize_before


def _openai_activation(expected):
    def check(ours, hf):
        assert ours.config.activation_function == expected
    return check


def _bert_untied_prepare(hf):
    # Untied, transformers keeps the (unused) `cls.predictions.bias` apart from the decoder bias: both must agree.
    with torch.no_grad():
        hf.cls.predictions.bias.copy_(hf.cls.predictions.decoder.bias)


def _bert_regression(ours, hf):
    assert ours.config.classifier_dropout == 0.3 and ours.config.num_labels == 1


def _albert_grouping(groups, inner):
    def check(ours, hf):
        assert (ours.config.layer_groups, ours.config.inner_group_num, ours.config.embedding_size) == (groups, inner,
                                                                                                       16)
    return check


def _electra_pair(embedding_size):
    def check(ours, hf):
        assert ours.config.embedding_size == (None if embedding_size == 32 else embedding_size)
        assert ours.config.classifier_head == "dense-gelu"
    return check


def _electra_multi_label(ours, hf):
    assert ours.config.problem_type == "multi_label_classification"


def _roberta_pair(ours, hf):
    assert ours.config.position_offset == 2 and ours.config.position_padding_idx == 1
    assert ours.config.max_position_embeddings == 64


def _roberta_two_types(ours, hf):
    assert ours.config.classifier_head == "dense-tanh" and ours.model.pooler is None


def _marian_bad_words(hf):
    hf.generation_config.bad_words_ids = [[98]]  # as opus-mt checkpoints: never generate the pad token


def _marian_mt(ours, hf):
    assert ours.config.sinusoidal_layout == "concatenated" and ours.config.scale_embedding
    assert ours.config.activation_function == "swish"
    table = ours.model.encoder.embeddings.position_embeddings.pe
    assert torch.equal(table, hf.model.encoder.embed_positions.weight)
    assert torch.equal(table, sinusoidal_table(64, 32, "concatenated"))


def _pegasus_generation(ours, hf):
    assert ours.config.normalize_before and ours.config.sinusoidal_layout == "concatenated"
    assert torch.equal(ours.model.encoder.embeddings.position_embeddings.pe, sinusoidal_table(64, 32, "concatenated"))


ALBERT_LABELS = {
    "AlbertModel": no_labels,
    "AlbertForPreTraining": with_mlm(sentence_order_label=torch.tensor([0, 1, 0])),
    "AlbertForMaskedLM": mlm_labels,
    "AlbertForSequenceClassification": fixed(labels=torch.tensor([1, 0, 1])),
}
# (num_hidden_groups, inner_group_num): ALBERT's default, two groups of two layers, unshared, uneven groups.
ALBERT_GROUPINGS = [(1, 1), (2, 2), (4, 1), (3, 1)]
ELECTRA_LABELS = {
    "ElectraModel": no_labels,
    "ElectraForPreTraining": replaced_labels,
    "ElectraForMaskedLM": mlm_labels,
    "ElectraForSequenceClassification": fixed(labels=torch.tensor([2, 0, 1])),
}

PAIRS = [
    # GPT-2
    Pair("gpt2", "GPT2LMHeadModel", causal_labels, generate=left_padded_prompt),
    Pair("gpt2", "GPT2LMHeadModel", no_labels, dict(tie_word_embeddings=False), check=_gpt2_untied, name="untied"),
    Pair("gpt2", "GPT2Model"),
    Pair("gpt2", "GPT2ForSequenceClassification", fixed(labels=torch.tensor([0, 2, 1]))),
    # OpenAI GPT
    Pair("openai-gpt", "OpenAIGPTLMHeadModel", causal_labels, generate=unpadded_prompt,
         check=_openai_lm),
    Pair("openai-gpt", "OpenAIGPTModel"),
    Pair("openai-gpt", "OpenAIGPTForSequenceClassification", fixed(labels=torch.tensor([0, 2, 1]))),
    *[Pair("openai-gpt", "OpenAIGPTLMHeadModel", no_labels, dict(afn=afn), check=_openai_activation(afn), name=afn)
      for afn in ("relu", "silu")],
    # CTRL
    Pair("ctrl", "CTRLLMHeadModel", causal_labels, generate=unpadded_prompt, check=_ctrl_lm),
    Pair("ctrl", "CTRLModel"),
    Pair("ctrl", "CTRLForSequenceClassification", fixed(labels=torch.tensor([0, 2, 1]))),
    # BERT; transformers' QA head has `num_labels` outputs (start and end: 2), ours always 2.
    Pair("bert", "BertModel"),
    Pair("bert", "BertForPreTraining", with_mlm(next_sentence_label=torch.tensor([0, 1, 0]))),
    Pair("bert", "BertForMaskedLM", mlm_labels),
    Pair("bert", "BertForNextSentencePrediction", fixed(labels=torch.tensor([1, 0, 1]))),
    Pair("bert", "BertForSequenceClassification", fixed(labels=torch.tensor([2, 0, 1]))),
    Pair("bert", "BertForTokenClassification", token_labels),
    Pair("bert", "BertForQuestionAnswering",
         fixed(start_positions=torch.tensor([1, 2, 0]), end_positions=torch.tensor([3, 5, 2])), dict(num_labels=2)),
    Pair("bert", "BertForMultipleChoice", multiple_choice),
    Pair("bert", "BertForSequenceClassification", fixed(labels=torch.tensor([0.5, -1.0, 2.0])),
         dict(num_labels=1, classifier_dropout=0.3), check=_bert_regression, name="regression-dropout"),
    Pair("bert", "BertForMaskedLM", no_labels, dict(tie_word_embeddings=False), prepare=_bert_untied_prepare,
         name="untied"),
    # RoBERTa (fairseq's positions: padding reads its own row)
    Pair("roberta", "RobertaModel", check=_roberta_pair),
    Pair("roberta", "RobertaForMaskedLM", mlm_labels, check=_roberta_pair),
    Pair("roberta", "RobertaForSequenceClassification", fixed(labels=torch.tensor([2, 0, 1])), check=_roberta_pair),
    Pair("roberta", "RobertaForSequenceClassification", two_token_types,
         dict(type_vocab_size=2, num_labels=1, classifier_dropout=0.2), check=_roberta_two_types,
         name="two-token-types-regression"),
    # ALBERT, for every way transformers groups its shared layers
    *[Pair("albert", class_name, ALBERT_LABELS[class_name], dict(num_hidden_groups=groups, inner_group_num=inner),
           check=_albert_grouping(groups, inner), name=f"groups{groups}-inner{inner}")
      for class_name in sorted(ALBERT_LABELS) for groups, inner in ALBERT_GROUPINGS],
    # ELECTRA, with and without the E -> H embedding projection
    *[Pair("electra", class_name, ELECTRA_LABELS[class_name], dict(embedding_size=embedding_size),
           check=_electra_pair(embedding_size), name=f"embedding{embedding_size}")
      for class_name in ELECTRA_LABELS for embedding_size in (16, 32)],
    Pair("electra", "ElectraForSequenceClassification", fixed(labels=torch.tensor([0.5, -1.0, 2.0])),
         dict(num_labels=1), name="regression"),
    Pair("electra", "ElectraForSequenceClassification",
         fixed(labels=torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])),
         dict(problem_type="multi_label_classification"), check=_electra_multi_label, name="multi-label"),
    # BART
    Pair("bart", "BartForConditionalGeneration", seq2seq_labels, generate=the_source, check=_bart_generation),
    Pair("bart", "BartModel", decoder_inputs),
    Pair("bart", "BartForSequenceClassification", fixed(labels=torch.tensor([0, 2, 1]))),
    # Marian
    Pair("marian", "MarianMTModel", seq2seq_labels, generate=the_source, prepare=_marian_bad_words, check=_marian_mt),
    Pair("marian", "MarianModel", decoder_inputs),
    # With an odd d_model Marian puts ceil(d/2) sines before floor(d/2) cosines; ours does the same.
    Pair("marian", "MarianMTModel", seq2seq_labels, dict(d_model=36, encoder_attention_heads=4,
                                                         decoder_attention_heads=4), name="odd-width"),
    # Pegasus (pre-LN, a final LayerNorm per stack)
    Pair("pegasus", "PegasusForConditionalGeneration", seq2seq_labels, generate=the_source,
         check=_pegasus_generation),
    Pair("pegasus", "PegasusModel", decoder_inputs),
]


@pytest.mark.parametrize("pair", PAIRS, ids=[pair.id for pair in PAIRS])
def test_parity(pair: Pair, tmp_path):
    hf = build(pair.family, pair.class_name, **pair.overrides)
    if pair.prepare is not None:
        pair.prepare(hf)
    inputs = pair.make_inputs(pair.family, batch(pair.family))
    generate_inputs, generate_kwargs = (pair.generate(pair.family, inputs) if pair.generate is not None
                                        else (None, None))
    ours = check_parity(hf, inputs, tmp_path, generate_inputs=generate_inputs, generate_kwargs=generate_kwargs)
    if pair.check is not None:
        pair.check(ours, hf)


def test_every_family_and_supported_class_has_a_parity_case():
    from tobigs_transformer.convert import supported_classes

    # BartForCausalLM (a decoder stack alone) is checked in tests/model/test_composition.py.
    covered = {pair.class_name for pair in PAIRS} | {"BartForCausalLM"}
    families = {"GPT2", "OpenAIGPT", "CTRL", "Bert", "Roberta", "Albert", "Electra", "Bart", "Marian", "Pegasus"}
    expected = {name for name in supported_classes() if name.startswith(tuple(families))}
    assert expected <= covered, sorted(expected - covered)


# ---------------------------------------------------------------------------------------------------------------
# Models built here export to the family's class: same outputs (and tokens), exact round trip.
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Export:
    family: str
    model_class: type
    config: Callable  # () -> TobigsConfig
    hf_class: str
    make_inputs: Callable = no_labels
    generate: dict | None = None  # generate() settings; prompts as the family's tests used

    @property
    def id(self) -> str:
        return f"{self.family}-{self.hf_class}"


def _decoder_prompt(family, inputs):
    return dict(input_ids=torch.randint(1, 98, (2, 4)))


DECODER_SETTINGS = dict(max_new_tokens=5, do_sample=False, num_beams=2, pad_token_id=0)
SEQ2SEQ_SETTINGS = dict(max_new_tokens=5, do_sample=False, num_beams=2)


def _with_input_labels(family, inputs):
    return {**inputs, "labels": inputs["input_ids"]}


EXPORTS = [
    Export("gpt2", TobigsForCausalLM, lambda: tiny_config("gpt2"), "GPT2LMHeadModel", _with_input_labels,
           DECODER_SETTINGS),
    # The `gpt` preset's layout (post-LN, learned positions, no final LayerNorm, tied head, FFN 4 x d_model).
    Export("openai-gpt", TobigsForCausalLM,
           lambda: tiny_config("gpt", decoder_ffn_dim=128, activation_function="gelu_new"), "OpenAIGPTLMHeadModel",
           _with_input_labels, DECODER_SETTINGS),
    Export("ctrl", TobigsForCausalLM, lambda: TobigsConfig.from_preset("ctrl", **TINY), "CTRLLMHeadModel",
           _with_input_labels, DECODER_SETTINGS),
    Export("bert", TobigsForPreTraining, lambda: tiny_config("bert-base"), "BertForPreTraining"),
    Export("roberta", TobigsForSequenceClassification,
           lambda: TobigsConfig.from_preset("roberta-base", **TINY, num_labels=3), "RobertaForSequenceClassification",
           fixed(labels=torch.tensor([1, 0, 2]))),
    Export("albert", TobigsForPreTraining,
           lambda: TobigsConfig.from_preset("albert-base", **{**TINY, "embedding_size": 16}), "AlbertForPreTraining",
           with_mlm(sentence_order_label=torch.tensor([1, 1, 0]))),
    Export("electra", TobigsForReplacedTokenDetection,
           lambda: TobigsConfig.from_preset("electra-small", **{**TINY, "embedding_size": 16}),
           "ElectraForPreTraining", replaced_labels),
    Export("electra", TobigsForSequenceClassification,
           lambda: TobigsConfig.from_preset("electra-small", **{**TINY, "embedding_size": 16}, num_labels=3),
           "ElectraForSequenceClassification", fixed(labels=torch.tensor([1, 0, 2]))),
    Export("bart", TobigsForConditionalGeneration, lambda: tiny_config("bart-base"), "BartForConditionalGeneration",
           seq2seq_labels, SEQ2SEQ_SETTINGS),
    # The paper preset exports as Marian once its layout matches.
    Export("marian", TobigsForConditionalGeneration,
           lambda: tiny_config("transformer-base", sinusoidal_layout="concatenated", layer_norm_eps=1e-5,
                               label_smoothing=0.0, lm_head_bias=True, pad_token_id=98, eos_token_id=0,
                               decoder_start_token_id=98, bos_token_id=None), "MarianMTModel", seq2seq_labels,
           SEQ2SEQ_SETTINGS),
    Export("pegasus", TobigsForConditionalGeneration, lambda: TobigsConfig.from_preset("pegasus-large", **TINY),
           "PegasusForConditionalGeneration", seq2seq_labels, SEQ2SEQ_SETTINGS),
]


@pytest.mark.parametrize("export", EXPORTS, ids=[export.id for export in EXPORTS])
def test_export_of_a_model_built_here(export: Export):
    ours = randomize_(export.model_class(export.config()).eval())
    hf = convert_to_hf(ours).eval()
    assert type(hf).__name__ == export.hf_class
    inputs = export.make_inputs(export.family, batch(export.family))
    assert_same_outputs(outputs_of(hf, inputs), outputs_of(ours, inputs))
    if export.generate is not None:
        prompt = (source_of(inputs) if export.family in SEQ2SEQ_IDS
                  else _decoder_prompt(export.family, inputs))
        assert torch.equal(hf.generate(**prompt, **export.generate), ours.generate(**prompt, **export.generate))
    assert_same_state_dict(convert_from_hf(hf).state_dict(), ours.state_dict())


# ---------------------------------------------------------------------------------------------------------------
# Presets are what the released checkpoints' configs convert to.
# ---------------------------------------------------------------------------------------------------------------

PRESETS = {
    "ctrl": (lambda: CTRLConfig(vocab_size=246534, n_positions=50000, n_embd=1280, dff=8192, n_layer=48, n_head=16),
             "ctrl", {}),
    # An encoder keeps no cache whatever use_cache says: the converter writes False, the presets keep the default.
    "albert": (lambda: AlbertConfig(hidden_size=768, num_attention_heads=12, intermediate_size=3072), "albert-base",
               {"use_cache": (False, True)}),
    "roberta": (lambda: RobertaConfig(vocab_size=50265, max_position_embeddings=514, type_vocab_size=1,
                                      layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2),
                "roberta-base", {"use_cache": (False, True)}),
    "pegasus": (lambda: PegasusConfig(vocab_size=96103, d_model=1024, encoder_layers=16, decoder_layers=16,
                                      encoder_attention_heads=16, decoder_attention_heads=16, encoder_ffn_dim=4096,
                                      decoder_ffn_dim=4096, max_position_embeddings=1024, activation_function="relu",
                                      scale_embedding=True, dropout=0.1, attention_dropout=0.1,
                                      activation_dropout=0.1),
                "pegasus-large", {}),
    # opus-mt-en-de's config.json values (sizes, swish, scaled embeddings, ids): the preset is that config exactly.
    "marian": (lambda: MarianConfig(vocab_size=58101, decoder_vocab_size=58101, d_model=512, encoder_layers=6,
                                    decoder_layers=6, encoder_attention_heads=8, decoder_attention_heads=8,
                                    encoder_ffn_dim=2048, decoder_ffn_dim=2048, activation_function="swish",
                                    max_position_embeddings=512, scale_embedding=True, pad_token_id=58100,
                                    eos_token_id=0, bos_token_id=0, decoder_start_token_id=58100),
               "marian", {}),
}


@pytest.mark.parametrize("family", sorted(PRESETS))
def test_preset_is_the_released_config(family):
    hf_config, preset, expected = PRESETS[family]
    converted = convert_config_from_hf(hf_config()).to_dict()
    preset_dict = TobigsConfig.from_preset(preset).to_dict()
    differ = {k: (converted.get(k), preset_dict.get(k)) for k in set(converted) | set(preset_dict)
              if converted.get(k) != preset_dict.get(k)}
    assert differ == expected, differ


@pytest.mark.parametrize("preset, d_model, embedding_size",
                         [("electra-small", 256, 128), ("electra-base", 768, None)])
def test_electra_presets_are_the_released_discriminators(preset, d_model, embedding_size):
    config = TobigsConfig.from_preset(preset)
    assert (config.d_model, config.embedding_size) == (d_model, embedding_size)
    hf = ElectraConfig(embedding_size=embedding_size or d_model, hidden_size=d_model,
                       num_attention_heads=config.encoder_attention_heads, intermediate_size=config.encoder_ffn_dim)
    converted = convert_config_from_hf(hf).to_dict()
    preset_dict = config.to_dict()
    differ = {k for k in set(converted) | set(preset_dict) if converted.get(k) != preset_dict.get(k)}
    # An encoder keeps no cache either way; the generator's size is a pre-training setting no discriminator records.
    assert differ == {"use_cache", "generator_size"}, differ


def test_gpt_preset_is_openai_gpt_with_the_tanh_gelu():
    # The converted config is the preset's (GELU as the tanh approximation in both).
    preset = TobigsConfig.from_preset("gpt")
    full = convert_config_from_hf(OpenAIGPTConfig())
    for name in ("architecture", "d_model", "decoder_layers", "decoder_attention_heads", "decoder_ffn_dim",
                 "max_position_embeddings", "vocab_size", "normalize_before", "position_embedding_type",
                 "scale_embedding", "layernorm_embedding", "activation_function", "layer_norm_eps",
                 "tie_word_embeddings", "dropout", "attention_dropout"):
        assert getattr(full, name) == getattr(preset, name), name


def test_a_model_built_from_the_marian_preset_exports_as_marian():
    config = TobigsConfig.from_preset("marian", vocab_size=99, d_model=32, encoder_layers=1, decoder_layers=1,
                                      encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=37,
                                      decoder_ffn_dim=37, max_position_embeddings=64)
    assert (config.pad_token_id, config.decoder_start_token_id, config.eos_token_id) == (98, 98, 0)
    ours = randomize_(TobigsForConditionalGeneration(config).eval())
    assert type(convert_to_hf(ours)).__name__ == "MarianMTModel"


# ---------------------------------------------------------------------------------------------------------------
# What a family cannot express is refused, naming the value.
# ---------------------------------------------------------------------------------------------------------------

REFUSED_IMPORTS = [
    ("ctrl", lambda: CTRLConfig(layer_norm_epsilon=1e-5), "layer_norm_epsilon=1e-05"),
    ("openai-gpt", lambda: OpenAIGPTConfig(afn="quick_gelu"), "afn='quick_gelu'"),
    ("electra", lambda: ElectraConfig(hidden_act="relu"), "hidden_act='relu'"),
    ("roberta", lambda: RobertaConfig(hidden_act="relu"), "hidden_act='relu'"),
    ("pegasus", lambda: PegasusConfig(tie_word_embeddings=False), "tie_word_embeddings=False"),
]


@pytest.mark.parametrize("family, hf_config, match", REFUSED_IMPORTS, ids=[row[0] for row in REFUSED_IMPORTS])
def test_inexpressible_family_config_is_refused(family, hf_config, match):
    with pytest.raises(ConversionError, match=match):
        convert_config_from_hf(hf_config())


REFUSED_EXPORTS = [
    # exact GELU and FFN 37: OpenAI GPT has neither; both are named
    ("openai-gpt", lambda: TobigsForCausalLM(tiny_config("gpt", activation_function="gelu")), "OpenAIGPTLMHeadModel",
     ["use 'gelu_new'", "decoder_ffn_dim=37"]),
    # BERT's and RoBERTa's classifiers are not ELECTRA's
    *[("electra-" + head,
       lambda head=head: TobigsForSequenceClassification(
           TobigsConfig.from_preset("electra-small", **TINY, classifier_head=head)),
       "ElectraForSequenceClassification", [f"classifier_head='{head}' \\(ELECTRA needs 'dense-gelu'\\)"])
      for head in ("pooler", "dense-tanh")],
    ("roberta", lambda: TobigsForSequenceClassification(TobigsConfig.from_preset("bert-base", **TINY)), "roberta",
     ["classifier_head='pooler'"]),
    *[("albert-" + sharing,
       lambda sharing=sharing: TobigsForMaskedLM(
           TobigsConfig.from_preset("albert-base", **{**TINY, "layer_sharing": sharing})),
       None, [f"layer_sharing='{sharing}'.*no transformers class"])
      for sharing in ("attention", "ffn")],
]


@pytest.mark.parametrize("case, model, target, patterns", REFUSED_EXPORTS, ids=[row[0] for row in REFUSED_EXPORTS])
def test_inexpressible_model_is_refused_on_export(case, model, target, patterns):
    with pytest.raises(ConversionError) as error:
        convert_to_hf(model(), **({"target": target} if target else {}))
    for pattern in patterns:
        assert re.search(pattern, str(error.value)), (pattern, str(error.value))


@pytest.mark.parametrize("family, class_name, dtype", [("gpt2", "GPT2LMHeadModel", torch.float16),
                                                       ("gpt2", "GPT2LMHeadModel", torch.bfloat16),
                                                       ("marian", "MarianMTModel", torch.float16)])
def test_dtype_is_kept(family, class_name, dtype):
    model = build(family, class_name).to(dtype)
    ours = convert_from_hf(model)
    assert ours.dtype == dtype
    assert_same_state_dict(convert_to_hf(ours).state_dict(), model.state_dict())


# ---------------------------------------------------------------------------------------------------------------
# Family-specific checks.
# ---------------------------------------------------------------------------------------------------------------


def test_bart_generation_settings_are_carried_over():
    inputs = batch("bart")
    source = source_of(inputs)
    model = build("bart", "BartForConditionalGeneration", scale_embedding=True)
    model.generation_config.num_beams = 2
    model.generation_config.no_repeat_ngram_size = 2
    model.generation_config.max_length = 12
    ours = convert_from_hf(model)
    assert ours.config.scale_embedding
    assert_same_outputs(outputs_of(ours, inputs), outputs_of(model, inputs))
    assert ours.generation_config.no_repeat_ngram_size == 2
    assert torch.equal(ours.generate(**source), model.generate(**source))  # the checkpoint's own settings
    assert convert_to_hf(ours).generation_config.to_diff_dict() == ours.generation_config.to_diff_dict()


def test_albert_parameters_are_shared_not_copied():
    ours = convert_from_hf(build("albert", "AlbertForMaskedLM"))  # 4 layers, one group
    assert len(ours.model.encoder.layers) == 1 and ours.model.encoder.layer_order == [0, 0, 0, 0]
    assert ours.lm_head.decoder.weight.shape == (99, 16)  # tied to the E-wide token table
    assert ours.lm_head.decoder.weight.data_ptr() == ours.model.encoder.embeddings.word_embeddings.weight.data_ptr()


def test_electra_classifier_is_its_gelu_head_over_the_first_token():
    hf = build("electra", "ElectraForSequenceClassification", classifier_dropout=0.2)
    ours = convert_from_hf(hf)
    assert ours.model.pooler is None and ours.config.head_dropout == 0.2
    inputs = batch("electra")
    with torch.no_grad():
        first = ours.model(**inputs).last_hidden_state[:, 0]
        head = ours.classifier
        gelu = head.out_proj(torch.nn.functional.gelu(head.dense(first)))
        tanh = head.out_proj(torch.tanh(head.dense(first)))
        logits = ours(**inputs).logits
    assert torch.allclose(logits, gelu, atol=1e-6) and not torch.allclose(logits, tanh, atol=1e-3)
    # Dropout sits where ELECTRA's does (before dense and before out_proj): the same masks, the same outputs.
    features = torch.randn(3, 5, 32)
    hf.classifier.train()
    head.train()
    torch.manual_seed(0)
    expected = hf.classifier(features)
    torch.manual_seed(0)
    got = head(features[:, 0])
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(got, head.eval()(features[:, 0]), atol=1e-3)  # the masks did drop something


def test_electra_discriminator_loss_ignores_padding_as_transformers():
    hf = build("electra", "ElectraForPreTraining")
    ours = convert_from_hf(hf)
    inputs = batch("electra")
    labels = (inputs["input_ids"] % 3 == 0).long()
    noisy = labels.masked_fill(inputs["attention_mask"] == 0, 1)  # labels under padding must not count
    with torch.no_grad():
        assert torch.equal(ours(**inputs, labels=labels).loss, ours(**inputs, labels=noisy).loss)
        no_mask = {k: v for k, v in inputs.items() if k != "attention_mask"}
        assert torch.allclose(ours(**no_mask, labels=labels).loss, hf(**no_mask, labels=labels).loss, atol=1e-6)


def test_roberta_padding_reads_the_padding_row_and_the_mask_does_not_move_positions():
    # transformers reads the positions off the ids: without a mask (or with one) the real tokens are unchanged.
    hf = build("roberta", "RobertaModel")
    ours = convert_from_hf(hf)
    inputs = batch("roberta")
    no_mask = dict(input_ids=inputs["input_ids"])
    assert_same_outputs(outputs_of(ours, no_mask), outputs_of(hf, no_mask))
    with torch.no_grad():
        embeds = hf.embeddings.word_embeddings(inputs["input_ids"])
    embeds = dict(inputs_embeds=embeds, attention_mask=inputs["attention_mask"])
    assert_same_outputs(outputs_of(ours, embeds), outputs_of(hf, embeds))


def test_pegasus_summarization_pipeline_runs_a_converted_model():
    tokenizer = seq2seq_tokenizer()
    hf = build("pegasus", "PegasusForConditionalGeneration", vocab_size=len(tokenizer),
               pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
               decoder_start_token_id=tokenizer.pad_token_id, forced_eos_token_id=tokenizer.eos_token_id)
    ours = convert_from_hf(hf)
    summarize = pipeline("summarization", model=ours, tokenizer=tokenizer)
    settings = dict(max_new_tokens=6, min_new_tokens=2, num_beams=2)
    text = "the cat sat on a mat"
    summary = summarize(text, **settings)[0]["summary_text"]
    expected = hf.generate(**tokenizer([text], return_tensors="pt"), **settings)
    assert summary == tokenizer.decode(expected[0], skip_special_tokens=True)
