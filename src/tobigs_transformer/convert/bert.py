"""BERT (transformers' `BertModel`, `BertForPreTraining`, `BertForMaskedLM`, `BertForNextSentencePrediction`,
`BertForSequenceClassification`, `BertForTokenClassification`, `BertForQuestionAnswering`, `BertForMultipleChoice`)
<-> our encoder-only models.

BERT is our encoder stack with learned positions, segment embeddings (`type_vocab_size=2`), an embedding LayerNorm
and post-LN. Its separate query/key/value projections are stacked into our fused `qkv_proj` (`CAT`, split back in
three on export). BERT's MLM head keeps its output bias twice (`cls.predictions.bias`, tied to
`cls.predictions.decoder.bias`): both names must hold the same tensor (`SAME`).

    BERT                                          tobigs_transformer
    embeddings.word/position/token_type_embeddings encoder.embeddings.word/position/token_type_embeddings
    embeddings.LayerNorm                          encoder.embeddings.layer_norm
    encoder.layer.{i}.attention.self.query|key|value   encoder.layers.{i}.self_attn.qkv_proj   (concatenated)
    encoder.layer.{i}.attention.output.dense      encoder.layers.{i}.self_attn.out_proj
    encoder.layer.{i}.attention.output.LayerNorm  encoder.layers.{i}.self_attn_layer_norm
    encoder.layer.{i}.intermediate.dense          encoder.layers.{i}.feed_forward.fc1
    encoder.layer.{i}.output.dense                encoder.layers.{i}.feed_forward.fc2
    encoder.layer.{i}.output.LayerNorm            encoder.layers.{i}.ffn_layer_norm
    pooler.dense                                  pooler.dense
    cls.predictions.transform.dense / LayerNorm   lm_head.dense / layer_norm
    cls.predictions.decoder (+ .bias, = cls.predictions.bias)   lm_head.decoder
    cls.seq_relationship                          next_sentence_head
    classifier / qa_outputs                       classifier / qa_outputs

Not expressible (raise): `position_embedding_type` other than "absolute", `is_decoder=True`,
`add_cross_attention=True`.
"""

from transformers import BertConfig

from ..configuration_tobigs import TobigsConfig
from .common import CAT, SAME, ClassPair, Family, activation_of, common_config_fields, require, rule

BASE_RULES = (
    rule("embeddings.word_embeddings.weight", "encoder.embeddings.word_embeddings.weight"),
    rule("embeddings.position_embeddings.weight", "encoder.embeddings.position_embeddings.weight"),
    rule("embeddings.token_type_embeddings.weight", "encoder.embeddings.token_type_embeddings.weight"),
    rule("embeddings.LayerNorm.{p}", "encoder.embeddings.layer_norm.{p}"),
    rule(
        [f"encoder.layer.{{i}}.attention.self.{name}.{{p}}" for name in ("query", "key", "value")],
        "encoder.layers.{i}.self_attn.qkv_proj.{p}",
        CAT,
    ),
    rule("encoder.layer.{i}.attention.output.dense.{p}", "encoder.layers.{i}.self_attn.out_proj.{p}"),
    rule("encoder.layer.{i}.attention.output.LayerNorm.{p}", "encoder.layers.{i}.self_attn_layer_norm.{p}"),
    rule("encoder.layer.{i}.intermediate.dense.{p}", "encoder.layers.{i}.feed_forward.fc1.{p}"),
    rule("encoder.layer.{i}.output.dense.{p}", "encoder.layers.{i}.feed_forward.fc2.{p}"),
    rule("encoder.layer.{i}.output.LayerNorm.{p}", "encoder.layers.{i}.ffn_layer_norm.{p}"),
    rule("pooler.dense.{p}", "pooler.dense.{p}"),
)

MLM_HEAD = (
    rule("cls.predictions.transform.dense.{p}", "lm_head.dense.{p}"),
    rule("cls.predictions.transform.LayerNorm.{p}", "lm_head.layer_norm.{p}"),
    rule("cls.predictions.decoder.weight", "lm_head.decoder.weight"),
    rule(["cls.predictions.decoder.bias", "cls.predictions.bias"], "lm_head.decoder.bias", SAME),
)
NSP_HEAD = (rule("cls.seq_relationship.{p}", "next_sentence_head.{p}"),)


def _pooler_kwargs(model) -> dict:
    return {"add_pooling_layer": getattr(model, "pooler", None) is not None}


PAIRS = (
    ClassPair("BertModel", "TobigsModel", ours_kwargs=_pooler_kwargs, hf_kwargs=_pooler_kwargs),
    ClassPair("BertForPreTraining", "TobigsForPreTraining", "bert.", "model.", MLM_HEAD + NSP_HEAD),
    ClassPair("BertForMaskedLM", "TobigsForMaskedLM", "bert.", "model.", MLM_HEAD),
    ClassPair("BertForNextSentencePrediction", "TobigsForNextSentencePrediction", "bert.", "model.", NSP_HEAD),
    ClassPair("BertForSequenceClassification", "TobigsForSequenceClassification", "bert.", "model.",
              (rule("classifier.{p}", "classifier.{p}"),)),
    ClassPair("BertForTokenClassification", "TobigsForTokenClassification", "bert.", "model.",
              (rule("classifier.{p}", "classifier.{p}"),)),
    ClassPair("BertForQuestionAnswering", "TobigsForQuestionAnswering", "bert.", "model.",
              (rule("qa_outputs.{p}", "qa_outputs.{p}"),)),
    ClassPair("BertForMultipleChoice", "TobigsForMultipleChoice", "bert.", "model.",
              (rule("classifier.{p}", "classifier.{p}"),)),
)


def config_from_hf(hf: BertConfig) -> dict:
    reasons = []
    position_type = getattr(hf, "position_embedding_type", "absolute")
    if position_type != "absolute":
        reasons.append(f"position_embedding_type={position_type!r} (only 'absolute' learned positions)")
    if getattr(hf, "is_decoder", False):
        reasons.append("is_decoder=True (a causal BERT is not an encoder-only model)")
    if getattr(hf, "add_cross_attention", False):
        reasons.append("add_cross_attention=True (an encoder-only model has no cross-attention)")
    require(reasons, "this BERT config")
    return dict(
        architecture="encoder-only",
        vocab_size=hf.vocab_size,
        d_model=hf.hidden_size,
        encoder_layers=hf.num_hidden_layers,
        encoder_attention_heads=hf.num_attention_heads,
        encoder_ffn_dim=hf.intermediate_size,
        activation_function=activation_of(hf.hidden_act, "BERT"),
        dropout=hf.hidden_dropout_prob,
        attention_dropout=hf.attention_probs_dropout_prob,
        activation_dropout=0.0,
        classifier_dropout=hf.classifier_dropout,
        max_position_embeddings=hf.max_position_embeddings,
        position_embedding_type="learned",
        position_offset=0,
        scale_embedding=False,
        layernorm_embedding=True,
        normalize_before=False,
        type_vocab_size=hf.type_vocab_size,
        layer_norm_eps=hf.layer_norm_eps,
        attention_bias=True,
        lm_head_bias=False,
        init_std=hf.initializer_range,
        init_method="normal",
        label_smoothing=0.0,
        tie_word_embeddings=hf.tie_word_embeddings,
        use_cache=False,
        pad_token_id=hf.pad_token_id,
        bos_token_id=hf.bos_token_id,
        eos_token_id=hf.eos_token_id,
        decoder_start_token_id=None,
        **common_config_fields(hf),
    )


def incompatibilities(config: TobigsConfig) -> list[str]:
    expected = dict(architecture="encoder-only", position_embedding_type="learned", position_offset=0,
                    scale_embedding=False, layernorm_embedding=True, normalize_before=False, attention_bias=True,
                    activation_dropout=0.0, label_smoothing=0.0, position_padding_idx=None, classifier_head="pooler")
    reasons = [f"{name}={getattr(config, name)!r} (BERT needs {value!r})" for name, value in expected.items()
               if getattr(config, name) != value]
    if config.embedding_size is not None or config.layer_sharing != "none":
        reasons.append(f"embedding_size={config.embedding_size!r}, layer_sharing={config.layer_sharing!r} (BERT has "
                       "d_model-wide embeddings and unshared layers: that is ALBERT)")
    if config.type_vocab_size < 1:
        reasons.append("type_vocab_size=0 (BERT always has segment embeddings)")
    return reasons


def config_to_hf(config: TobigsConfig) -> BertConfig:
    require(incompatibilities(config), "this TobigsConfig as BERT")
    return BertConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.d_model,
        num_hidden_layers=config.encoder_layers,
        num_attention_heads=config.encoder_attention_heads,
        intermediate_size=config.encoder_ffn_dim,
        hidden_act=config.activation_function,
        hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.attention_dropout,
        classifier_dropout=config.classifier_dropout,
        max_position_embeddings=config.max_position_embeddings,
        type_vocab_size=config.type_vocab_size,
        layer_norm_eps=config.layer_norm_eps,
        initializer_range=config.init_std,
        tie_word_embeddings=config.tie_word_embeddings,
        pad_token_id=config.pad_token_id,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        **common_config_fields(config),
    )


FAMILY = Family("bert", ("bert",), BASE_RULES, PAIRS, config_from_hf, config_to_hf, incompatibilities)
