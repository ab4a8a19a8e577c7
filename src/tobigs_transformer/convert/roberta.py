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

from ..model.configuration_tobigs import TobigsConfig
from .bert import BASE_RULES, _pooler_kwargs, encoder_incompatibilities, encoder_kwargs, unshared_full_width
from .bert import config_from_hf as bert_config_from_hf
from .engine import require
from .families import Family, class_pairs
from .ops import SAME
from .rules import module_rules, rule

MLM_HEAD = module_rules("lm_head.", "lm_head.", {"dense": "dense", "layer_norm": "layer_norm"}) + (
    rule("lm_head.decoder.weight", "lm_head.decoder.weight"),
    rule(["lm_head.decoder.bias", "lm_head.bias"], "lm_head.decoder.bias", SAME),
)
# RoBERTa's and ELECTRA's head over the first token (our `TobigsClassificationHead`).
CLASSIFICATION_HEAD = module_rules("classifier.", "classifier.", {"dense": "dense", "out_proj": "out_proj"})

PAIRS = class_pairs("Roberta", "roberta.", {
    "ForMaskedLM": ("TobigsForMaskedLM", MLM_HEAD),
    "ForSequenceClassification": ("TobigsForSequenceClassification", CLASSIFICATION_HEAD),
}, bare_kwargs=_pooler_kwargs)


def config_from_hf(hf: RobertaConfig) -> dict:
    reasons = []
    if hf.hidden_act != "gelu":
        reasons.append(f"hidden_act={hf.hidden_act!r} (RoBERTa's MLM head uses GELU whatever hidden_act is; one "
                       "activation_function here serves both)")
    if hf.pad_token_id is None:
        reasons.append("pad_token_id=None (RoBERTa's positions are counted past the padding id)")
    require(reasons, "this RoBERTa config")
    fields = bert_config_from_hf(hf, "RoBERTa")
    offset = hf.pad_token_id + 1
    if hf.max_position_embeddings <= offset:
        require([f"max_position_embeddings={hf.max_position_embeddings} leaves no position after the "
                 f"{offset} reserved rows"], "this RoBERTa config")
    fields.update(max_position_embeddings=hf.max_position_embeddings - offset, position_offset=offset,
                  position_padding_idx=hf.pad_token_id, classifier_head="dense-tanh")
    return fields


def incompatibilities(config: TobigsConfig) -> list[str]:
    reasons = encoder_incompatibilities(config, "RoBERTa", activation_function="gelu", classifier_head="dense-tanh")
    pad = config.pad_token_id
    if pad is None or config.position_padding_idx != pad or config.position_offset != pad + 1:
        reasons.append(f"position_padding_idx={config.position_padding_idx!r}, position_offset="
                       f"{config.position_offset} (RoBERTa needs pad_token_id={pad!r} and pad_token_id + 1)")
    return reasons + unshared_full_width(config, "RoBERTa")


def config_to_hf(config: TobigsConfig) -> RobertaConfig:
    require(incompatibilities(config), "this TobigsConfig as RoBERTa")
    return RobertaConfig(**dict(encoder_kwargs(config),
                                max_position_embeddings=config.max_position_embeddings + config.position_offset),
                         classifier_dropout=config.classifier_dropout)


FAMILY = Family("roberta", ("roberta",), BASE_RULES, PAIRS, config_from_hf, config_to_hf, incompatibilities)
