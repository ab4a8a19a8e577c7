"""ELECTRA (transformers' `ElectraModel`, `ElectraForPreTraining` = the discriminator, `ElectraForMaskedLM` = the
generator, `ElectraForSequenceClassification` = the fine-tuned discriminator) <-> our encoder-only models with the
`electra-small` / `electra-base` presets' layout.

ELECTRA's encoder is BERT's (the same layer keys under `electra.`) without a pooler (`add_pooling_layer=False`);
its embeddings may be narrower than the encoder (ELECTRA-small: E = 128, H = 256), projected by `embeddings_project`
= our `embeddings.projection` (`embedding_size=E`; absent when E = H, then `embedding_size=None`).

    ELECTRA                                        tobigs_transformer
    electra.embeddings.* / electra.encoder.*       model.encoder.embeddings.* / model.encoder.layers.*  (as BERT)
    electra.embeddings_project                     model.encoder.embeddings.projection
    discriminator_predictions.dense / dense_prediction   discriminator_head.dense / dense_prediction
    generator_predictions.dense / LayerNorm        lm_head.dense / layer_norm          (H -> E, then LayerNorm(E))
    generator_lm_head                              lm_head.decoder                     (tied to the E-wide table)
    classifier.dense / out_proj                    classifier.dense / out_proj         (RoBERTa's head with GELU)

The sequence classifier reads the first token through dropout, dense, GELU, dropout, `out_proj`
(`ElectraClassificationHead`; GELU whatever `hidden_act` says): `classifier_head="dense-gelu"`, which every converted
ELECTRA config carries, as RoBERTa's carry `"dense-tanh"`.

Not expressible (raise): `hidden_act` other than "gelu" (the generator head always uses GELU), and what BERT cannot
express (`position_embedding_type` other than "absolute", `is_decoder`, `add_cross_attention`).
"""

from transformers import ElectraConfig

from ..model.configuration_tobigs import TobigsConfig
from .bert import ENCODER_RULES, encoder_incompatibilities, encoder_kwargs
from .bert import config_from_hf as bert_config_from_hf
from .engine import require
from .families import Family, class_pairs
from .roberta import CLASSIFICATION_HEAD
from .rules import module_rules, rule

BASE_RULES = ENCODER_RULES + (rule("embeddings_project.{p}", "encoder.embeddings.projection.{p}"),)

DISCRIMINATOR_HEAD = module_rules("discriminator_predictions.", "discriminator_head.",
                                  {"dense": "dense", "dense_prediction": "dense_prediction"})
GENERATOR_HEAD = module_rules("generator_predictions.", "lm_head.", {"dense": "dense", "layer_norm": "LayerNorm"}) + (
    rule("generator_lm_head.{p}", "lm_head.decoder.{p}"),
)

PAIRS = class_pairs("Electra", "electra.", {
    "ForPreTraining": ("TobigsForReplacedTokenDetection", DISCRIMINATOR_HEAD),
    "ForMaskedLM": ("TobigsForMaskedLM", GENERATOR_HEAD),
    "ForSequenceClassification": ("TobigsForSequenceClassification", CLASSIFICATION_HEAD),
})


def config_from_hf(hf: ElectraConfig) -> dict:
    if hf.hidden_act != "gelu":
        require([f"hidden_act={hf.hidden_act!r} (ELECTRA's generator head uses GELU whatever hidden_act is; one "
                 "activation_function here serves both)"], "this ELECTRA config")
    return dict(bert_config_from_hf(hf, "ELECTRA"),
                embedding_size=None if hf.embedding_size == hf.hidden_size else hf.embedding_size,
                add_pooling_layer=False, classifier_head="dense-gelu")


def incompatibilities(config: TobigsConfig) -> list[str]:
    reasons = encoder_incompatibilities(config, "ELECTRA", position_offset=0, position_padding_idx=None,
                                        activation_function="gelu", layer_sharing="none", classifier_head="dense-gelu")
    if config.embedding_size == config.d_model:
        reasons.append(f"embedding_size={config.embedding_size} = d_model (ELECTRA projects only narrower "
                       "embeddings: use embedding_size=None)")
    return reasons


def config_to_hf(config: TobigsConfig) -> ElectraConfig:
    require(incompatibilities(config), "this TobigsConfig as ELECTRA")
    return ElectraConfig(**encoder_kwargs(config), embedding_size=config.embedding_size or config.d_model,
                         classifier_dropout=config.classifier_dropout)


FAMILY = Family("electra", ("electra",), BASE_RULES, PAIRS, config_from_hf, config_to_hf, incompatibilities)
