"""RoBERTa (transformers' `RobertaModel`, `RobertaForMaskedLM`, `RobertaForSequenceClassification`) <-> our
encoder-only models with the `roberta-base` preset's layout.

RoBERTa's network is BERT's (the same key layout, `bert.BASE_RULES`); what differs is read off the config:

- positions: fairseq counts real tokens from row `padding_idx + 1` of the table and gives padding tokens the
  `padding_idx` row (`create_position_ids_from_input_ids`). Ours: `position_offset = pad_token_id + 1`,
  `position_padding_idx = pad_token_id`, and `max_position_embeddings` is the table's rows minus the offset
  (514 -> 512 for roberta-base);
- the MLM head is BERT's under other names, with GELU always (RoBERTa's `gelu`, whatever `hidden_act`); its bias is
  stored twice (`lm_head.bias`, tied to `lm_head.decoder.bias`): both must be equal (`SAME`);
- the sequence classifier has no pooler: dropout, dense + tanh over <s>, dropout, `out_proj`
  (`classifier_head="dense-tanh"`, our `TobigsClassificationHead`).

    RoBERTa                                   tobigs_transformer
    roberta.*  (embeddings, encoder, pooler)  model.*  as BERT
    lm_head.dense / layer_norm                lm_head.dense / layer_norm
    lm_head.decoder (+ .bias, = lm_head.bias) lm_head.decoder
    classifier.dense / out_proj               classifier.dense / out_proj

Not expressible (raise): `hidden_act` other than "gelu" (the MLM head would differ), `position_embedding_type` other
than "absolute", `is_decoder=True`, `add_cross_attention=True`.
"""

from transformers import RobertaConfig

from ..configuration_tobigs import TobigsConfig
from .bert import BASE_RULES, _pooler_kwargs
from .bert import config_from_hf as bert_config_from_hf
from .common import SAME, ClassPair, Family, common_config_fields, require, rule

MLM_HEAD = (
    rule("lm_head.dense.{p}", "lm_head.dense.{p}"),
    rule("lm_head.layer_norm.{p}", "lm_head.layer_norm.{p}"),
    rule("lm_head.decoder.weight", "lm_head.decoder.weight"),
    rule(["lm_head.decoder.bias", "lm_head.bias"], "lm_head.decoder.bias", SAME),
)
CLASSIFICATION_HEAD = (
    rule("classifier.dense.{p}", "classifier.dense.{p}"),
    rule("classifier.out_proj.{p}", "classifier.out_proj.{p}"),
)

PAIRS = (
    ClassPair("RobertaModel", "TobigsModel", ours_kwargs=_pooler_kwargs, hf_kwargs=_pooler_kwargs),
    ClassPair("RobertaForMaskedLM", "TobigsForMaskedLM", "roberta.", "model.", MLM_HEAD),
    ClassPair("RobertaForSequenceClassification", "TobigsForSequenceClassification", "roberta.", "model.",
              CLASSIFICATION_HEAD),
)


def config_from_hf(hf: RobertaConfig) -> dict:
    reasons = []
    if hf.hidden_act != "gelu":
        reasons.append(f"hidden_act={hf.hidden_act!r} (RoBERTa's MLM head uses GELU whatever hidden_act is; one "
                       "activation_function here serves both)")
    if hf.pad_token_id is None:
        reasons.append("pad_token_id=None (RoBERTa's positions are counted past the padding id)")
    require(reasons, "this RoBERTa config")
    fields = bert_config_from_hf(hf)
    offset = hf.pad_token_id + 1
    if hf.max_position_embeddings <= offset:
        require([f"max_position_embeddings={hf.max_position_embeddings} leaves no position after the "
                 f"{offset} reserved rows"], "this RoBERTa config")
    fields.update(max_position_embeddings=hf.max_position_embeddings - offset, position_offset=offset,
                  position_padding_idx=hf.pad_token_id, classifier_head="dense-tanh")
    return fields


def incompatibilities(config: TobigsConfig) -> list[str]:
    expected = dict(architecture="encoder-only", position_embedding_type="learned", scale_embedding=False,
                    layernorm_embedding=True, normalize_before=False, attention_bias=True, activation_dropout=0.0,
                    label_smoothing=0.0, activation_function="gelu", classifier_head="dense-tanh")
    reasons = [f"{name}={getattr(config, name)!r} (RoBERTa needs {value!r})" for name, value in expected.items()
               if getattr(config, name) != value]
    pad = config.pad_token_id
    if pad is None or config.position_padding_idx != pad or config.position_offset != pad + 1:
        reasons.append(f"position_padding_idx={config.position_padding_idx!r}, position_offset="
                       f"{config.position_offset} (RoBERTa needs pad_token_id={pad!r} and pad_token_id + 1)")
    if config.embedding_size is not None or config.layer_sharing != "none":
        reasons.append(f"embedding_size={config.embedding_size!r}, layer_sharing={config.layer_sharing!r} (RoBERTa "
                       "has d_model-wide embeddings and unshared layers: that is ALBERT)")
    if config.type_vocab_size < 1:
        reasons.append("type_vocab_size=0 (RoBERTa always has a token type embedding)")
    return reasons


def config_to_hf(config: TobigsConfig) -> RobertaConfig:
    require(incompatibilities(config), "this TobigsConfig as RoBERTa")
    return RobertaConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.d_model,
        num_hidden_layers=config.encoder_layers,
        num_attention_heads=config.encoder_attention_heads,
        intermediate_size=config.encoder_ffn_dim,
        hidden_act=config.activation_function,
        hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.attention_dropout,
        classifier_dropout=config.classifier_dropout,
        max_position_embeddings=config.max_position_embeddings + config.position_offset,
        type_vocab_size=config.type_vocab_size,
        layer_norm_eps=config.layer_norm_eps,
        initializer_range=config.init_std,
        tie_word_embeddings=config.tie_word_embeddings,
        pad_token_id=config.pad_token_id,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        **common_config_fields(config),
    )


FAMILY = Family("roberta", ("roberta",), BASE_RULES, PAIRS, config_from_hf, config_to_hf, incompatibilities)
