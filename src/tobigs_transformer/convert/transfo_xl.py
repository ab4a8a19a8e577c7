"""Transformer-XL checkpoints from files: the authors' `MemTransformerLM` state dict and transformers 4.x
`TransfoXLLMHeadModel` folders (a class transformers v5 no longer has) <-> our `TobigsForCausalLM`.

    from tobigs_transformer.convert import convert_transfo_xl_checkpoint, export_transfo_xl
    ours = convert_transfo_xl_checkpoint("old/transfo-xl-folder")                   # config.json + weights
    ours = convert_transfo_xl_checkpoint("model.pt", hparams="hparams.json")        # the authors' state dict
    export_transfo_xl(ours, "back-to-4x", target="hf4")      # config.json + model.safetensors for transformers 4.x
    export_transfo_xl(ours, "back-to-authors", target="authors")  # model.pt (state dict) + hparams.json

The weights map by name; the two formats differ only in the `transformer.` prefix of transformers' body:

    authors (transformers 4.x: transformer. + the same)   tobigs_transformer (model.decoder. + ...)
    word_emb.emb_layers.0                                  embeddings.word_embeddings
    layers.{i}.dec_attn.qkv_net  ([W^Q; W^K; W^V], no bias) layers.{i}.self_attn.qkv_proj (attention_bias=False)
    layers.{i}.dec_attn.o_net                              layers.{i}.self_attn.out_proj
    layers.{i}.dec_attn.r_net    (W_{k,R})                 layers.{i}.self_attn.position_proj
    layers.{i}.dec_attn.layer_norm                         layers.{i}.self_attn_layer_norm
    layers.{i}.pos_ff.CoreNet.0 / .3                       layers.{i}.feed_forward.fc1 / fc2
    layers.{i}.pos_ff.layer_norm                           layers.{i}.ffn_layer_norm
    r_w_bias, r_r_bias (u, v; untie_r=False)               global_bias.content_bias, global_bias.position_bias
    layers.{i}.dec_attn.r_w_bias, r_r_bias (untie_r=True)  layers.{i}.self_attn.global_bias.content_bias, ...
    pos_emb.inv_freq                                       (checked: the sinusoid frequencies we compute)
    crit.out_layers.0 (weight, bias)                       lm_head (lm_head_bias=True)

With no cutoffs, `div_val=1` and d_embed = d_model their `ProjectedAdaptiveLogSoftmax` is one full softmax over
`out_layers[0]` (weight tied to the embedding with tie_weight, and a bias): our LM head with a bias. Otherwise (the
WikiText-103 and One-Billion-Word models) their adaptive input and softmax become ours (`adaptive_input`,
`adaptive_softmax`, `cutoffs`, `div_val`, `tie_projs`, `embedding_size` = d_embed), whose modules keep their names:

    word_emb.emb_layers.{k} / emb_projs.{k}                embeddings.word_embeddings.emb_layers.{k} / emb_projs.{k}
    crit.out_layers.{k} / out_projs.{k}                    lm_head.out_layers.{k} / out_projs.{k}
    crit.cluster_weight, crit.cluster_bias                 lm_head.cluster_weight, lm_head.cluster_bias
                                                           (rows reversed from and to 4.x: REVERSED_CLUSTERS)

Memory: theirs is time-major, (M, B, d_model) per tensor; the authors' model keeps n_layer + 1 of them (the last, the
final layer's output, is carried but never read), transformers 4.x n_layer; ours is n_layer batch-major (B, M, d_model)
tensors, each the input of its layer, as theirs. `mems_from_transfo_xl` / `mems_to_transfo_xl` convert.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from ..model.modeling_tobigs import TobigsForCausalLM
from .engine import convert_state_dict, load_exactly
from .errors import ConversionError
from .ops import RENAME, Op
from .rules import Rule, expand, module_rules, rule
from .transfo_xl_hparams import (
    TransfoXLHParams,
    authors_hparams,
    authors_hparams_dict,
    config_from_hparams,
    hf4_config_dict,
    hf4_hparams,
    hparams_from_config,
)

HF4_BODY = "transformer."
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# One layer: our module under model.decoder.layers.{i}. <- theirs under layers.{i}.
LAYER_MODULES = {
    "self_attn.qkv_proj": "dec_attn.qkv_net",
    "self_attn.out_proj": "dec_attn.o_net",
    "self_attn.position_proj": "dec_attn.r_net",
    "self_attn_layer_norm": "dec_attn.layer_norm",
    "feed_forward.fc1": "pos_ff.CoreNet.0",
    "feed_forward.fc2": "pos_ff.CoreNet.3",
    "ffn_layer_norm": "pos_ff.layer_norm",
}
GLOBAL_BIASES = {"global_bias.content_bias": "r_w_bias", "global_bias.position_bias": "r_r_bias"}  # u, v
# Their embedding and their softmax's weight: tied with tie_weight (a safetensors file then keeps one of the two).
TIED = ("word_emb.emb_layers.0.weight", "crit.out_layers.0.weight")
# The adaptive input and softmax (cutoffs, div_val, d_embed != d_model), cluster {k}: theirs (the embedding under the
# body prefix, `crit.` at the root) -> ours (`adaptive.py` keeps the authors' module names).
ADAPTIVE_EMBEDDING = {
    "word_emb.emb_layers.{k}.weight": "model.decoder.embeddings.word_embeddings.emb_layers.{k}.weight",
    "word_emb.emb_projs.{k}": "model.decoder.embeddings.word_embeddings.emb_projs.{k}",
}
ADAPTIVE_SOFTMAX = {
    "crit.out_layers.{k}.{p}": "lm_head.out_layers.{k}.{p}",
    "crit.out_projs.{k}": "lm_head.out_projs.{k}",
}
CLUSTER_LOGITS = {"crit.cluster_weight": "lm_head.cluster_weight", "crit.cluster_bias": "lm_head.cluster_bias"}


def _inverse_frequencies(d_model: int) -> torch.Tensor:
    return 1 / (10000 ** (torch.arange(0.0, d_model, 2.0) / d_model))  # their PositionalEmbedding.inv_freq


def _check_inv_freq(tensors, config, keys) -> None:
    expected = _inverse_frequencies(config.d_model)
    if tensors[0].shape != expected.shape or not torch.allclose(tensors[0].float(), expected, rtol=1e-6, atol=0):
        raise ConversionError(f"{keys[0]} is not 1 / 10000^(2i/d_model) for d_model={config.d_model}, the sinusoid "
                              "frequencies the relative attention computes; a modified table cannot be converted")


# Their sinusoid frequencies: a buffer in their state dict, computed from the config by ours.
INV_FREQ = Op("inv-freq", _check_inv_freq, lambda t, c, n: [_inverse_frequencies(c.d_model)])
# Their softmax always has a bias; ours may not (lm_head_bias=False): zeros on export.
SOFTMAX_BIAS_ZEROS = Op("zero-softmax-bias", lambda t, c, k: None, lambda t, c, n: [torch.zeros(c.vocab_size)])
# The head softmax's logit of tail cluster i is row n_clusters - i of cluster_weight in the authors' code (column -i of
# the head) and ours, but row i - 1 in transformers 4.x (`cutoffs[0] + i - 1`, in its loss and its prediction_scores
# alike): a 4.x checkpoint's rows are reversed so that it computes here what it computed in 4.x (the same with one
# tail cluster).
REVERSED_CLUSTERS = Op("reverse-cluster-rows", lambda t, c, k: t[0].flip(0).contiguous(),
                       lambda t, c, n: [t.flip(0).contiguous()])


def transfo_xl_rules(h: TransfoXLHParams, body: str, lm_head_bias: bool = True) -> tuple[Rule, ...]:
    """The key map of one Transformer-XL (`body`: "" for the authors' state dict, "transformer." for 4.x)."""
    ours = "model.decoder."
    rules = [rule(f"{body}pos_emb.inv_freq", None, INV_FREQ)]
    if h.adaptive:
        rules += [rule(body + theirs, mine) for theirs, mine in ADAPTIVE_EMBEDDING.items()]
        rules += [rule(theirs, mine) for theirs, mine in ADAPTIVE_SOFTMAX.items()]
        if h.cutoffs:
            rules += [rule(theirs, mine, REVERSED_CLUSTERS if body == HF4_BODY else RENAME)
                      for theirs, mine in CLUSTER_LOGITS.items()]
    else:
        rules += [rule(f"{body}{TIED[0]}", f"{ours}embeddings.word_embeddings.weight"),
                  rule(TIED[1], "lm_head.weight"),
                  rule("crit.out_layers.0.bias", "lm_head.bias") if lm_head_bias
                  else rule("crit.out_layers.0.bias", None, SOFTMAX_BIAS_ZEROS)]
    rules += module_rules(f"{body}layers.{{i}}.", f"{ours}layers.{{i}}.", LAYER_MODULES)
    if h.untie_r:
        rules += [rule(f"{body}layers.{{i}}.dec_attn.{theirs}", f"{ours}layers.{{i}}.self_attn.{name}")
                  for name, theirs in GLOBAL_BIASES.items()]
    else:
        rules += [rule(f"{body}{theirs}", f"{ours}{name}") for name, theirs in GLOBAL_BIASES.items()]
    return tuple(rules)


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a .safetensors file or a torch.save file (.pt, .bin), read without running pickled code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "MemTransformerLM" in str(error) or "GLOBAL" in str(error):
            raise ConversionError(
                f"{path} holds a pickled module (the authors' train.py saves torch.save(model)), which is not "
                "unpickled here because that runs code; with their code importable, save the weights instead: "
                "torch.save(torch.load(path, weights_only=False).state_dict(), 'model.pt')"
            ) from error
        raise ConversionError(f"{path} is not a readable weight file: {str(error).splitlines()[0]}") from error
    except Exception as error:  # torch and safetensors raise many types for a damaged file
        raise ConversionError(f"{path} is not a readable weight file: {str(error).splitlines()[0]}") from error
    return _as_state_dict(state, str(path))


def _as_state_dict(state, what: str) -> dict[str, torch.Tensor]:
    if isinstance(state, Mapping) and isinstance(state.get("state_dict", state.get("model_state_dict")), Mapping):
        state = state.get("state_dict", state.get("model_state_dict"))  # a training checkpoint's weights
    if not isinstance(state, Mapping) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise ConversionError(f"{what} does not hold a state dict (a mapping of names to tensors)")
    return dict(state)


def _weights_in(folder: Path) -> Path:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{folder} has no weight file ({' or '.join(WEIGHT_FILES)})")


def tied_pairs(h: TransfoXLHParams, body: str) -> list[tuple[str, str]]:
    """(embedding-side key, softmax-side key) of every tensor their model ties (MemTransformerLM.__init__, and 4.x's
    tie_weights): each softmax cluster's weight with its embedding (tie_weight), and the projections tie_projs says."""
    pairs = []
    if h.tie_weight:
        clusters = 1 if h.div_val == 1 else len(h.cutoffs) + 1  # div_val 1: one full-vocabulary out_layer
        pairs += [(f"{body}word_emb.emb_layers.{k}.weight", f"crit.out_layers.{k}.weight") for k in range(clusters)]
    for k, tied in enumerate(h.tie_projs):
        if tied and h.div_val == 1 and h.d_model != h.embed_dim:
            pairs.append((f"{body}word_emb.emb_projs.0", f"crit.out_projs.{k}"))
        elif tied and h.div_val != 1:
            pairs.append((f"{body}word_emb.emb_projs.{k}", f"crit.out_projs.{k}"))
    return pairs


def _tie(state: dict[str, torch.Tensor], h: TransfoXLHParams, body: str, what: str) -> dict[str, torch.Tensor]:
    """Both names of each tied tensor: a file may keep one (safetensors drops shared tensors); two that differ
    contradict the config."""
    state = dict(state)
    for embedding, softmax in tied_pairs(h, body):
        if embedding in state and softmax not in state:
            state[softmax] = state[embedding]
        elif softmax in state and embedding not in state:
            state[embedding] = state[softmax]
        elif embedding in state and not torch.equal(state[embedding], state[softmax]):
            raise ConversionError(f"{what}: {embedding} and {softmax} differ, but the config ties them (tie_weight / "
                                  "tie_word_embeddings / tie_projs); set it to False if the checkpoint was trained "
                                  "untied")
    return state


def _layer_copies(h: TransfoXLHParams, body: str) -> dict[str, str]:
    """transformers 4.x with untie_r=False hands its one u, v to every layer, so a pytorch_model.bin lists them
    again under each layer: per-layer key -> the shared key."""
    if h.untie_r:
        return {}
    return {f"{body}layers.{i}.dec_attn.{name}": f"{body}{name}" for i in range(h.n_layer)
            for name in GLOBAL_BIASES.values()}


def _drop_layer_copies(state: dict[str, torch.Tensor], h: TransfoXLHParams, body: str,
                       what: str) -> dict[str, torch.Tensor]:
    state = dict(state)
    for copy, shared in _layer_copies(h, body).items():
        if copy in state and shared in state:
            if not torch.equal(state[copy], state[shared]):
                raise ConversionError(f"{what}: {copy} differs from {shared}, but untie_r=False says every layer "
                                      "shares it; set untie_r=True if the layers have their own")
            del state[copy]
    return state


def _source(checkpoint, hparams) -> tuple[dict[str, torch.Tensor], TransfoXLHParams, str]:
    """(state dict, hyper-parameters, description) of a folder, a file or an in-memory state dict."""
    if isinstance(checkpoint, Mapping):
        if hparams is None:
            raise ConversionError("a state dict needs its hyper-parameters: pass hparams= (the authors' "
                                  "MemTransformerLM arguments, a dict or a JSON file)")
        state, what = _as_state_dict(checkpoint, "the state dict"), "the state dict"
    else:
        path = Path(checkpoint)
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise FileNotFoundError(f"{path} has no config.json; give a transformers 4.x TransfoXL folder, or a "
                                        "weight file with hparams=")
            if hparams is None:
                hparams = hf4_hparams(path / "config.json")
            path = _weights_in(path)
        elif hparams is None:
            raise ConversionError(f"{path} is a weight file: pass its hyper-parameters with hparams= (a JSON file "
                                  "of the authors' MemTransformerLM arguments)")
        state, what = load_state_dict_file(path), str(path)
    if not isinstance(hparams, TransfoXLHParams):
        hparams = authors_hparams(hparams)
    return state, hparams, what


def convert_transfo_xl_checkpoint(checkpoint: str | Path | Mapping[str, torch.Tensor],
                                  hparams: TransfoXLHParams | str | Path | dict | None = None) -> TobigsForCausalLM:
    """A Transformer-XL checkpoint -> our `TobigsForCausalLM`, exactly (or `ConversionError` naming what cannot be).

    `checkpoint`: a transformers 4.x TransfoXLLMHeadModel folder (config.json + model.safetensors or
    pytorch_model.bin; `hparams` is then read from config.json), or the authors' state dict (a .pt/.bin/.safetensors
    file, or the dict itself) with `hparams` (their MemTransformerLM arguments as a dict or JSON file, or a
    `TransfoXLHParams`). Which layout the weights use (4.x's `transformer.` prefix or the authors' bare names) is read
    from the keys."""
    state, h, what = _source(checkpoint, hparams)
    body = HF4_BODY if any(key.startswith(HF4_BODY) for key in state) else ""
    config = config_from_hparams(h)
    state = _drop_layer_copies(_tie(state, h, body, what), h, body, what)
    model = TobigsForCausalLM(config)
    target_shapes = {key: tensor.shape for key, tensor in model.state_dict().items()}
    _check_vocabulary(state, h, body, what)
    tensors = convert_state_dict(state, target_shapes, transfo_xl_rules(h, body), "from_hf", config,
                                 f"{what} -> TobigsForCausalLM")
    load_exactly(model, tensors, "TobigsForCausalLM")
    return model.eval()


def _check_vocabulary(state: dict[str, torch.Tensor], h: TransfoXLHParams, body: str, what: str) -> None:
    """The token tables' rows (one table, or one per cluster) against n_token, before any shape is compared."""
    tables = sorted(key for key in state if key.startswith(f"{body}word_emb.emb_layers.") and key.endswith(".weight"))
    rows = sum(state[key].shape[0] for key in tables)
    if tables and rows != h.n_token:
        counted = tables[0] if len(tables) == 1 else f"{body}word_emb.emb_layers.*.weight ({len(tables)} clusters)"
        raise ConversionError(f"{what}: {counted} has {rows} rows but the config says a vocabulary of {h.n_token} "
                              "(n_token / vocab_size)")


def export_transfo_xl(model: TobigsForCausalLM, output_dir: str | Path | None = None,
                      target: str = "hf4") -> tuple[dict[str, torch.Tensor], dict]:
    """Our Transformer-XL -> (state dict, config) of `target`: "hf4" (transformers 4.x TransfoXLLMHeadModel: its
    config.json dict) or "authors" (MemTransformerLM: its constructor arguments). With `output_dir`, also writes
    config.json + model.safetensors (hf4) or model.pt + hparams.json (authors). `ConversionError` names every config
    value the format cannot hold."""
    if not isinstance(model, TobigsForCausalLM):
        raise TypeError(f"export_transfo_xl takes a TobigsForCausalLM, got {type(model).__name__}")
    h = hparams_from_config(model.config, target)
    rules = transfo_xl_rules(h, HF4_BODY if target == "hf4" else "", model.config.lm_head_bias)
    state = convert_state_dict(model.state_dict(), _their_shapes(rules, model), rules, "to_hf", model.config,
                               f"TobigsForCausalLM -> {target}")
    state = {key: tensor.detach().clone().contiguous() for key, tensor in state.items()}
    if target == "hf4":  # 4.x's layers hold the shared u, v too (and expect them in the file)
        state.update({copy: state[shared].clone() for copy, shared in _layer_copies(h, HF4_BODY).items()})
    config = hf4_config_dict(h) if target == "hf4" else authors_hparams_dict(h)
    if output_dir is not None:
        folder = Path(output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        if target == "hf4":
            from safetensors.torch import save_file

            save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
            (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        else:
            torch.save(state, folder / "model.pt")
            (folder / "hparams.json").write_text(json.dumps(config, indent=1) + "\n")
    return state, config


def _their_shapes(rules: Sequence[Rule], model: TobigsForCausalLM) -> dict[str, torch.Size]:
    """The keys and shapes of their state dict for our model: each of our tensors under its name (both store
    nn.Linear's (out, in)), and the tensors they keep that we do not (sinusoid frequencies, a zero softmax bias)."""
    ours = model.state_dict()
    shapes = {}
    for r in rules:
        if r.ours is None:  # no placeholders: one tensor of theirs, rebuilt from the config
            size = _inverse_frequencies(model.config.d_model).shape if r.op is INV_FREQ else (model.config.vocab_size,)
            shapes[r.hf[0]] = torch.Size(size)
    for concrete in expand([r for r in rules if r.ours is not None], (), ours):  # every layer, cluster, weight/bias
        shapes[concrete.hf[0]] = ours[concrete.ours].shape
    return shapes


def mems_from_transfo_xl(mems: Sequence[torch.Tensor] | None, source: str = "hf4") -> tuple[torch.Tensor, ...] | None:
    """Their memory -> ours: time-major (M, B, d_model) -> batch-major (B, M, d_model); the authors' n_layer + 1
    tensors lose the last (their final layer's output, which no layer reads). Empty memory (M = 0) -> None."""
    if source not in ("hf4", "authors"):
        raise ValueError(f"source must be 'hf4' or 'authors', got {source!r}")
    if mems is None:
        return None
    mems = list(mems)[:-1] if source == "authors" else list(mems)
    if not mems or mems[0].numel() == 0:
        return None
    return tuple(m.transpose(0, 1).contiguous() for m in mems)


def mems_to_transfo_xl(mems: Sequence[torch.Tensor] | None, target: str = "hf4",
                       final_layer: torch.Tensor | None = None) -> list[torch.Tensor] | None:
    """Our memory -> theirs: batch-major -> time-major. The authors' model carries one more tensor, the final layer's
    output over the memory span: `final_layer` (B, M, d_model) if you have it, else zeros (their layers never read it,
    so the next segment's outputs are the same either way)."""
    if target not in ("hf4", "authors"):
        raise ValueError(f"target must be 'hf4' or 'authors', got {target!r}")
    if mems is None:
        return None
    theirs = [m.transpose(0, 1).contiguous() for m in mems]
    if target == "authors":
        theirs.append(torch.zeros_like(theirs[0]) if final_layer is None else final_layer.transpose(0, 1).contiguous())
    return theirs


def hf4_initial_mems(model: TobigsForCausalLM, batch_size: int) -> tuple[torch.Tensor, ...] | None:
    """The memory transformers 4.x's TransfoXL starts every stream with: `mem_len` zero vectors per layer (its
    `init_mems`), which the first segment attends to (the authors' code and ours start with none). Pass it as `mems=`
    with the first segment to reproduce 4.x's outputs exactly."""
    config = model.config
    if not config.mem_len:
        return None
    return tuple(torch.zeros(batch_size, config.mem_len, config.d_model, dtype=model.dtype, device=model.device)
                 for _ in range(config.decoder_layers))
