"""Transformer-XL hyper-parameters as the two checkpoint formats write them, and the TobigsConfig they mean.

- The authors' PyTorch code (kimiyoung/transformer-xl, pytorch/mem_transformer.py, `MemTransformerLM`) stores no
  config with a state dict: its hyper-parameters are the constructor's arguments (`n_token`, `n_layer`, `n_head`,
  `d_model`, `d_head`, `d_inner`, `d_embed`, `div_val`, `cutoffs`, `tie_weight`, `tie_projs`, `pre_lnorm`,
  `same_length`, `clamp_len`, `mem_len`, ...: the flags of their run_*.sh scripts), given here as a dict or a JSON file.
- transformers 4.x `TransfoXLLMHeadModel` folders carry a config.json with `model_type: "transfo-xl"`; transformers v5
  has no class for it, so the file is read here as JSON, with 4.x's `TransfoXLConfig` defaults for absent keys.

Both become one `TransfoXLHParams`; `config_from_hparams` turns it into the TobigsConfig that computes the same
function and raises `ConversionError` naming every value that has no exact equivalent; `hparams_from_config` is the
way back for export.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..model.configuration_tobigs import TobigsConfig
from .errors import ConversionError

# transformers 4.x TransfoXLConfig's defaults (4.46.3), used for keys a config.json leaves out, as 4.x would.
HF4_DEFAULTS = dict(vocab_size=267735, cutoffs=[20000, 40000, 200000], d_model=1024, d_embed=1024, n_head=16,
                    d_head=64, d_inner=4096, div_val=4, pre_lnorm=False, n_layer=18, mem_len=1600, clamp_len=1000,
                    same_length=True, proj_share_all_but_first=True, attn_type=0, sample_softmax=-1, adaptive=True,
                    dropout=0.1, dropatt=0.0, untie_r=True, init="normal", init_range=0.01, proj_init_std=0.01,
                    init_std=0.02, layer_norm_epsilon=1e-5, eos_token_id=0, tie_word_embeddings=True)
# Keys of a 4.x config.json that change nothing computed here: initialisation, the `adaptive` flag 4.x never reads,
# pre-4.x names (`n_token`, `tie_weight`, `tgt_len`, `ext_len` are read below), and the generic PretrainedConfig keys
# save_pretrained writes (generation defaults, bookkeeping).
HF4_IGNORED = frozenset({
    "init", "init_range", "proj_init_std", "adaptive", "architectures", "model_type", "transformers_version",
    "torch_dtype", "task_specific_params", "return_dict", "output_hidden_states", "output_attentions", "torchscript",
    "use_bfloat16", "pruned_heads", "chunk_size_feed_forward", "is_decoder", "is_encoder_decoder",
    "add_cross_attention", "tie_encoder_decoder", "finetuning_task", "tokenizer_class", "prefix", "bos_token_id",
    "pad_token_id", "sep_token_id", "decoder_start_token_id", "problem_type", "id2label", "label2id", "max_length",
    "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty", "temperature",
    "top_k", "top_p", "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "output_scores",
    "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
    "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens", "tf_legacy_loss",
    "cross_attention_hidden_size", "output_past", "gradient_checkpointing",
})
HF4_READ = frozenset(HF4_DEFAULTS) | {"n_token", "tie_weight", "tie_projs", "tgt_len", "ext_len"}
# MemTransformerLM's constructor arguments (44781ed), plus `untie_r` (per-layer u, v: the TF code's flag, which ports
# of TF checkpoints keep as `layers.{i}.dec_attn.r_w_bias`) and `layer_norm_epsilon`.
AUTHORS_KEYS = frozenset({
    "n_token", "n_layer", "n_head", "d_model", "d_head", "d_inner", "dropout", "dropatt", "tie_weight", "d_embed",
    "div_val", "tie_projs", "pre_lnorm", "tgt_len", "ext_len", "mem_len", "cutoffs", "adapt_inp", "same_length",
    "attn_type", "clamp_len", "sample_softmax", "untie_r", "layer_norm_epsilon",
})
AUTHORS_REQUIRED = ("n_token", "n_layer", "n_head", "d_model", "d_head", "d_inner")


@dataclass(frozen=True)
class TransfoXLHParams:
    """One Transformer-XL language model's hyper-parameters, in the authors' names."""

    n_token: int
    n_layer: int
    n_head: int
    d_model: int
    d_head: int
    d_inner: int
    d_embed: int | None = None  # None: d_model
    div_val: int = 1
    cutoffs: tuple[int, ...] = ()
    tie_weight: bool = True
    tie_projs: tuple[bool, ...] = (False,)
    pre_lnorm: bool = False
    same_length: bool = False
    clamp_len: int = -1  # <= 0: no clamping
    mem_len: int = 0
    tgt_len: int | None = None
    ext_len: int = 0
    untie_r: bool = False
    attn_type: int = 0
    sample_softmax: int = -1
    dropout: float = 0.0
    dropatt: float = 0.0
    layer_norm_epsilon: float = 1e-5
    eos_token_id: int | None = None
    init_std: float = 0.02
    ignored: tuple[str, ...] = field(default=(), compare=False)  # keys read and deliberately not used

    @property
    def embed_dim(self) -> int:
        return self.d_model if self.d_embed is None else self.d_embed

    @property
    def adaptive(self) -> bool:
        """Clusters, smaller cluster embeddings or a projection between embedding and model width."""
        return bool(self.cutoffs) or self.div_val != 1 or self.embed_dim != self.d_model


def _read_json(source: str | Path | dict, what: str) -> dict:
    if isinstance(source, dict):
        return dict(source)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        values = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConversionError(f"{what} {path} is not valid JSON: {error}") from error
    if not isinstance(values, dict):
        raise ConversionError(f"{what} {path} must hold a JSON object, got {type(values).__name__}")
    return values


def _unknown(keys, known, what: str) -> None:
    unknown = sorted(set(keys) - set(known))
    if unknown:
        raise ConversionError(f"{what} has keys this converter does not know: {', '.join(unknown)}; they may change "
                              "the model, so nothing is guessed (remove them if they do not)")


def authors_hparams(source: str | Path | dict) -> TransfoXLHParams:
    """The authors' MemTransformerLM arguments (a dict or a JSON file of them) as `TransfoXLHParams`."""
    values = _read_json(source, "the hyper-parameter file")
    _unknown(values, AUTHORS_KEYS, "the authors' hyper-parameters")
    missing = [key for key in AUTHORS_REQUIRED if key not in values]
    if missing:
        raise ConversionError(f"the authors' hyper-parameters lack {', '.join(missing)} (MemTransformerLM needs "
                              f"{', '.join(AUTHORS_REQUIRED)})")
    values.pop("adapt_inp", None)  # stored by MemTransformerLM, never read by it
    for name in ("cutoffs", "tie_projs"):
        if name in values:
            values[name] = tuple(values[name])
    if values.get("d_embed") in (-1, None):  # train.py's default -1 means d_model
        values["d_embed"] = None
    return TransfoXLHParams(**values)


def hf4_hparams(source: str | Path | dict) -> TransfoXLHParams:
    """A transformers 4.x TransfoXL config.json (path or dict) as `TransfoXLHParams`, reading it as 4.x did."""
    values = _read_json(source, "config file")
    if values.get("model_type") != "transfo-xl":
        raise ConversionError(f"config has model_type={values.get('model_type')!r}, not 'transfo-xl'")
    _unknown(values, HF4_READ | HF4_IGNORED, "the transfo-xl config.json")

    def get(name: str):  # one lookup rule for every field: the file's value, else 4.x's default
        return values.get(name, HF4_DEFAULTS[name])

    cutoffs = tuple(get("cutoffs"))
    if "tie_projs" in values:  # an explicit list (older configs) overrides proj_share_all_but_first, as in 4.x
        tie_projs = tuple(values["tie_projs"])
    else:
        tie_projs = (False,) + (bool(get("proj_share_all_but_first")),) * len(cutoffs)
    return TransfoXLHParams(
        n_token=values.get("vocab_size", values.get("n_token", HF4_DEFAULTS["vocab_size"])),
        n_layer=get("n_layer"), n_head=get("n_head"), d_model=get("d_model"), d_head=get("d_head"),
        d_inner=get("d_inner"), d_embed=get("d_embed"), div_val=get("div_val"), cutoffs=cutoffs,
        tie_weight=bool(get("tie_word_embeddings")),  # 4.x ties by this flag (a legacy `tie_weight` is not read)
        tie_projs=tie_projs, pre_lnorm=get("pre_lnorm"), same_length=get("same_length"), clamp_len=get("clamp_len"),
        mem_len=get("mem_len"), tgt_len=values.get("tgt_len"), ext_len=values.get("ext_len", 0),
        untie_r=get("untie_r"), attn_type=get("attn_type"), sample_softmax=get("sample_softmax"),
        dropout=get("dropout"), dropatt=get("dropatt"), layer_norm_epsilon=get("layer_norm_epsilon"),
        eos_token_id=get("eos_token_id"), init_std=get("init_std"),
        ignored=tuple(sorted(set(values) & {"tie_weight", "init", "init_range", "proj_init_std", "adaptive"})),
    )


def config_from_hparams(h: TransfoXLHParams) -> TobigsConfig:
    """The TobigsConfig that computes what `h`'s Transformer-XL computes; `ConversionError` lists what cannot."""
    reasons = []
    if h.attn_type != 0:
        reasons.append(f"attn_type={h.attn_type}: only attn_type=0 (the paper's relative attention, §3.3) converts")
    if h.sample_softmax > 0:
        reasons.append(f"sample_softmax={h.sample_softmax}: the sampled softmax has no equivalent here")
    if h.ext_len:
        reasons.append(f"ext_len={h.ext_len}: extended context has no equivalent here (use mem_len)")
    if h.n_head * h.d_head != h.d_model:
        reasons.append(f"n_head * d_head = {h.n_head} * {h.d_head} = {h.n_head * h.d_head} != d_model={h.d_model}: "
                       "our heads are d_model / n_head wide")
    extra = {}
    if h.adaptive:
        # Their tie_projs may list fewer clusters than there are (MemTransformerLM ties the ones listed).
        tie_projs = list(h.tie_projs[: len(h.cutoffs) + 1]) + [False] * (len(h.cutoffs) + 1 - len(h.tie_projs))
        extra = dict(adaptive_input=True, adaptive_softmax=True, cutoffs=list(h.cutoffs) or None, div_val=h.div_val,
                     tie_projs=tie_projs, embedding_size=None if h.embed_dim == h.d_model else h.embed_dim)
    if reasons:
        raise ConversionError("this Transformer-XL cannot be converted exactly:\n  - " + "\n  - ".join(reasons))
    return TobigsConfig(
        architecture="decoder-only", vocab_size=h.n_token, d_model=h.d_model, decoder_layers=h.n_layer,
        decoder_attention_heads=h.n_head, decoder_ffn_dim=h.d_inner, activation_function="relu",
        dropout=h.dropout, attention_dropout=h.dropatt, activation_dropout=h.dropout,
        position_embedding_type="relative", max_position_embeddings=h.tgt_len or 512, mem_len=h.mem_len,
        clamp_len=h.clamp_len if h.clamp_len > 0 else None, untie_r=h.untie_r, scale_embedding=True,
        layernorm_embedding=False, normalize_before=h.pre_lnorm, layer_norm_eps=h.layer_norm_epsilon,
        attention_bias=False, lm_head_bias=True, tie_word_embeddings=h.tie_weight, init_method="normal",
        init_std=h.init_std, pad_token_id=None, bos_token_id=h.eos_token_id, eos_token_id=h.eos_token_id,
        final_layer_norm=not h.pre_lnorm, same_length=h.same_length, **extra,
    )


# What a Transformer-XL of either format fixes, as our config values.
LAYOUT = dict(architecture="decoder-only", position_embedding_type="relative", activation_function="relu",
              scale_embedding=True, layernorm_embedding=False, attention_bias=False, embedding_size=None,
              type_vocab_size=0, layer_sharing="none", add_cross_attention=False)


def export_problems(config: TobigsConfig, target: str) -> list[str]:
    """`name=value (what the format needs)` for every value of `config` that `target` ("hf4" or "authors")
    cannot hold."""
    name = "transformers 4.x TransfoXL" if target == "hf4" else "the authors' MemTransformerLM"
    layout = dict(LAYOUT)
    if config.adaptive_input:  # the adaptive input's d_embed
        del layout["embedding_size"]
    problems = [f"{key}={getattr(config, key)!r} ({name} needs {value!r})" for key, value in layout.items()
                if getattr(config, key) != value]
    if config.normalize_before and config.final_layer_norm:
        problems.append(f"normalize_before=True with a final LayerNorm ({name} is pre-LN without one: needs "
                        "final_layer_norm=False)")
    if config.adaptive_input != config.adaptive_softmax:
        problems.append(f"adaptive_input={config.adaptive_input} with adaptive_softmax={config.adaptive_softmax} "
                        f"({name} has both or neither)")
    if target == "authors":
        if config.untie_r:
            problems.append("untie_r=True (the authors' PyTorch MemTransformerLM keeps one u, v for all layers)")
        if config.layer_norm_eps != 1e-5:
            problems.append(f"layer_norm_eps={config.layer_norm_eps} (MemTransformerLM's LayerNorms use 1e-5)")
    return problems


def hparams_from_config(config: TobigsConfig, target: str = "hf4") -> TransfoXLHParams:
    """The Transformer-XL hyper-parameters of one of our configs; `ConversionError` lists what `target` cannot hold."""
    if target not in ("hf4", "authors"):
        raise ValueError(f"target must be 'hf4' or 'authors', got {target!r}")
    problems = export_problems(config, target)
    if problems:
        raise ConversionError("this TobigsConfig cannot be exported as a Transformer-XL exactly:\n  - "
                              + "\n  - ".join(problems))
    heads = config.decoder_attention_heads
    adaptive = config.adaptive_input
    eos = config.eos_token_id if isinstance(config.eos_token_id, int) else None
    return TransfoXLHParams(
        n_token=config.vocab_size, n_layer=config.decoder_layers, n_head=heads, d_model=config.d_model,
        d_head=config.d_model // heads, d_inner=config.decoder_ffn_dim,
        d_embed=(config.embedding_size or config.d_model) if adaptive else config.d_model,
        div_val=config.div_val if adaptive else 1, cutoffs=tuple(config.cutoffs or ()) if adaptive else (),
        tie_projs=tuple(config.tie_projs or [False] * (len(config.cutoffs or []) + 1)) if adaptive else (False,),
        tie_weight=config.tie_word_embeddings, pre_lnorm=config.normalize_before, same_length=config.same_length,
        clamp_len=config.clamp_len if config.clamp_len is not None else -1, mem_len=config.mem_len,
        tgt_len=config.max_position_embeddings, untie_r=config.untie_r, dropout=config.dropout,
        dropatt=config.attention_dropout, layer_norm_epsilon=config.layer_norm_eps, eos_token_id=eos,
        init_std=config.init_std,
    )


def hf4_config_dict(h: TransfoXLHParams) -> dict:
    """config.json of a transformers 4.x TransfoXLLMHeadModel folder."""
    return dict(
        architectures=["TransfoXLLMHeadModel"], model_type="transfo-xl", vocab_size=h.n_token,
        cutoffs=list(h.cutoffs), d_model=h.d_model, d_embed=h.embed_dim, n_head=h.n_head, d_head=h.d_head,
        d_inner=h.d_inner, div_val=h.div_val, pre_lnorm=h.pre_lnorm, n_layer=h.n_layer, mem_len=h.mem_len,
        clamp_len=h.clamp_len, same_length=h.same_length, proj_share_all_but_first=False,
        tie_projs=list(h.tie_projs), attn_type=0, sample_softmax=-1, adaptive=True, dropout=h.dropout,
        dropatt=h.dropatt, untie_r=h.untie_r, init="normal", init_range=0.01, proj_init_std=0.01,
        init_std=h.init_std, layer_norm_epsilon=h.layer_norm_epsilon, eos_token_id=h.eos_token_id,
        tie_word_embeddings=h.tie_weight, torch_dtype="float32",
    )


def authors_hparams_dict(h: TransfoXLHParams) -> dict:
    """MemTransformerLM's constructor arguments: `MemTransformerLM(**authors_hparams_dict(h))` builds the twin."""
    return dict(n_token=h.n_token, n_layer=h.n_layer, n_head=h.n_head, d_model=h.d_model, d_head=h.d_head,
                d_inner=h.d_inner, dropout=h.dropout, dropatt=h.dropatt, tie_weight=h.tie_weight, d_embed=h.embed_dim,
                div_val=h.div_val, tie_projs=list(h.tie_projs), pre_lnorm=h.pre_lnorm, tgt_len=h.tgt_len,
                ext_len=0, mem_len=h.mem_len, cutoffs=list(h.cutoffs), same_length=h.same_length, attn_type=0,
                clamp_len=h.clamp_len, sample_softmax=-1)
