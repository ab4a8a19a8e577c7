"""Attention heatmaps: which tokens each token attends to, per layer and head (or averaged over the heads).

The weights are the `softmax(QK^T / sqrt(d_k))` matrices that the eager attention path returns with
`output_attentions=True` (`attention.scaled_dot_product_attention`); the fused kernels (sdpa, flash) never form them.
Three kinds, as in Figure 1 of the paper:

* ``"self"``   - encoder (bidirectional) self-attention: every token may attend to every token;
* ``"masked"`` - decoder (causal, look-ahead) self-attention: token t attends to tokens <= t; the weights above the
  diagonal are exactly zero and are drawn grey;
* ``"cross"``  - encoder-decoder attention: decoder positions (rows) attend to source tokens (columns).

Rows are queries and columns keys, so every row sums to 1.

    model, tokenizer = load_for_attention("runs/ko-en")
    maps = compute_attention_maps(model, tokenizer, "투빅아, 나는 너를 많이 사랑해.", "Tobigs, I love you so much.")
    fig = plot_attention(maps, "cross", average_heads=True)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure

from .common import grid_shape, mark_panel, new_figure, save_figure

logger = logging.getLogger(__name__)

KINDS = ("self", "masked", "cross")
KIND_TITLES = {
    "self": "encoder self-attention",
    "masked": "masked (causal) self-attention",
    "cross": "cross-attention (decoder → encoder)",
}
NO_EAGER = (
    "{name} returned no attention weights with output_attentions=True. Attention maps need the eager attention path "
    "(the fused sdpa/flash kernels never form the weight matrix): load the model with attn_implementation=\"eager\" "
    "or call model.set_attn_implementation(\"eager\"); a model class without an eager path cannot be visualised."
)


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------


def ensure_eager(model) -> None:
    """Switch `model` to the eager attention path, or raise a ValueError saying why it cannot be."""
    config = getattr(model, "config", None)
    if config is None or not isinstance(model, torch.nn.Module):
        raise ValueError(f"{type(model).__name__} is not a transformers model (no config); cannot read its attention")
    if getattr(config, "_attn_implementation", None) == "eager":
        return
    if not hasattr(model, "set_attn_implementation"):
        raise ValueError(f"{type(model).__name__} has no eager attention path (no set_attn_implementation); "
                         "attention maps need attn_implementation=\"eager\"")
    try:
        model.set_attn_implementation("eager")
    except Exception as error:  # the class refuses eager
        raise ValueError(f"{type(model).__name__} cannot switch to the eager attention path, which attention maps "
                         f"need: {error}") from error
    if getattr(model.config, "_attn_implementation", None) != "eager":
        raise ValueError(f"{type(model).__name__} did not switch to the eager attention path "
                         f"(attn_implementation is {model.config._attn_implementation!r})")


def _model_class_for(config):
    """The class named in `config.architectures` (a tobigs or transformers class), else the right Auto class."""
    import transformers

    import tobigs_transformer

    for name in getattr(config, "architectures", None) or []:
        for module in (tobigs_transformer, transformers):
            cls = getattr(module, name, None)
            if cls is not None:
                return cls
    if getattr(config, "is_encoder_decoder", False):
        return transformers.AutoModelForSeq2SeqLM
    return transformers.AutoModel


def load_for_attention(model_path: str | os.PathLike, tokenizer_path: str | os.PathLike | None = None,
                       **from_pretrained_kwargs):
    """Load a saved model with `attn_implementation="eager"` and its tokenizer (from `tokenizer_path`, default the
    model folder). Raises ValueError when the model cannot run the eager path."""
    from transformers import AutoConfig, AutoTokenizer

    import tobigs_transformer  # noqa: F401  registers the Auto classes

    config = AutoConfig.from_pretrained(model_path, **from_pretrained_kwargs)
    model_class = _model_class_for(config)
    try:
        model = model_class.from_pretrained(model_path, attn_implementation="eager", **from_pretrained_kwargs)
    except (ValueError, NotImplementedError) as error:
        if "attn" in str(error).lower() or "eager" in str(error).lower():
            raise ValueError(f"{model_class.__name__} from {model_path} cannot be loaded with the eager attention "
                             f"path, which attention maps need: {error}") from error
        raise
    ensure_eager(model)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path or model_path)
    return model, tokenizer


# ---------------------------------------------------------------------------------------------------------------
# Token labels
# ---------------------------------------------------------------------------------------------------------------


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet (printable stand-ins such as 'Ġ' for a space) mapped back to bytes."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    byte_values, code_points = printable[:], printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            byte_values.append(b)
            code_points.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(byte_values, code_points)}


_BYTE_DECODER = _byte_decoder()


def _readable(text: str) -> str:
    stripped = text.strip()
    if stripped:
        return stripped.replace("\n", "⏎")
    return "␣" if text else "∅"


def _piece_bytes(tokenizer, token_id: int) -> bytes | None:
    """The bytes of a byte-level BPE piece ('Ġ' stands for a space, ...), or None for other tokenizers."""
    piece = tokenizer.convert_ids_to_tokens(int(token_id))
    if not isinstance(piece, str) or not piece or token_id in set(tokenizer.all_special_ids):
        return None
    if not all(ch in _BYTE_DECODER for ch in piece):
        return None
    return bytes(_BYTE_DECODER[ch] for ch in piece)


def _is_byte_level(tokenizer, ids: list[int]) -> bool:
    """Byte-level BPE: decoding a piece on its own gives a replacement character or 'Ġ'-style stand-ins."""
    for token_id in ids:
        text = tokenizer.decode([token_id], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if ("\ufffd" in text or "Ġ" in text or "Ċ" in text) and _piece_bytes(tokenizer, token_id) is not None:
            return True
    return False


def token_label(tokenizer, token_id: int) -> str:
    """A readable label for one token id: the id decoded on its own (a byte-level piece holding part of a multi-byte
    character shows its bytes as ‹hex›; `token_labels` does better, naming the character it belongs to)."""
    text = tokenizer.decode([int(token_id)], skip_special_tokens=False, clean_up_tokenization_spaces=False)
    if "\ufffd" in text or "Ġ" in text or "Ċ" in text:
        raw = _piece_bytes(tokenizer, int(token_id))
        if raw is not None:
            decoded = raw.decode("utf-8", errors="ignore")
            if len(decoded.encode("utf-8")) == len(raw):
                return _readable(decoded)
            return "‹" + raw.hex() + "›"
    return _readable(text)


def token_labels(tokenizer, ids: Sequence[int] | torch.Tensor) -> list[str]:
    """Labels for a sequence of ids, each id decoded on its own. For byte-level BPE, where one Hangul syllable (3
    UTF-8 bytes) may be split over two pieces, a piece is labelled with the characters its bytes belong to, with
    '…' where it starts or ends inside a character: '투빅아' split as [투+1 byte][2 bytes+빅아] reads '투…', '…빅아'."""
    if isinstance(ids, torch.Tensor):
        ids = ids.tolist()
    ids = [int(i) for i in ids]
    if not _is_byte_level(tokenizer, ids):
        return [token_label(tokenizer, i) for i in ids]
    pieces = [_piece_bytes(tokenizer, i) for i in ids]
    labels = [None if piece is not None else token_label(tokenizer, i) for i, piece in zip(ids, pieces)]
    index = 0
    while index < len(ids):  # runs of consecutive byte pieces, decoded together
        if pieces[index] is None:
            index += 1
            continue
        end = index
        while end < len(ids) and pieces[end] is not None:
            end += 1
        run = b"".join(pieces[index:end])
        char_starts, position = [], 0  # byte offset where each character of the run starts
        text = run.decode("utf-8", errors="replace")
        for ch in text:
            char_starts.append(position)
            position += len(ch.encode("utf-8")) if ch != "\ufffd" else 1
        offset = 0
        for k in range(index, end):
            start, stop = offset, offset + len(pieces[k])
            offset = stop
            chars = [c for c, s, e in zip(text, char_starts, char_starts[1:] + [position]) if s < stop and e > start]
            starts_inside = start not in char_starts and start < position
            ends_inside = stop not in char_starts + [position]
            label = _readable("".join(chars))
            labels[k] = ("…" if starts_inside else "") + label + ("…" if ends_inside else "")
        index = end
    return labels


# ---------------------------------------------------------------------------------------------------------------
# Computing the maps
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class AttentionMaps:
    """Attention weights of one input. `weights[kind]` has shape (layers, heads, queries, keys); `query_tokens[kind]`
    and `key_tokens[kind]` label its rows and columns."""

    weights: dict[str, np.ndarray] = field(default_factory=dict)
    query_tokens: dict[str, list[str]] = field(default_factory=dict)
    key_tokens: dict[str, list[str]] = field(default_factory=dict)
    architecture: str = ""
    decoder_rows_predict: bool = False  # encoder-decoder: decoder rows are labelled with the predicted token

    @property
    def kinds(self) -> list[str]:
        return [k for k in KINDS if k in self.weights]


def _stack(attentions, name: str, model_name: str) -> np.ndarray:
    """(layers, heads, Tq, Tk) float array of batch item 0, after checking the model really returned weights."""
    if not attentions or any(a is None for a in attentions):
        raise ValueError(NO_EAGER.format(name=model_name) + f" (missing: {name})")
    return torch.stack([a[0].detach().float().cpu() for a in attentions]).numpy()


def _is_causal(weights: np.ndarray) -> bool:
    """True when every map is square with an all-zero strict upper triangle (the look-ahead mask)."""
    tq, tk = weights.shape[-2:]
    return tq == tk and tq > 1 and not np.any(np.triu(np.ones((tq, tk), dtype=bool), 1) & (weights != 0))


def _architecture(model) -> str:
    config = model.config
    architecture = getattr(config, "architecture", None)
    if architecture:
        return architecture
    return "encoder-decoder" if getattr(config, "is_encoder_decoder", False) else "unknown"


def _decoder_start(model) -> int:
    config = model.config
    for source in (getattr(model, "generation_config", None), config):
        value = getattr(source, "decoder_start_token_id", None) if source is not None else None
        if value is not None:
            return int(value)
    for name in ("bos_token_id", "pad_token_id"):
        value = getattr(config, name, None)
        if value is not None:
            return int(value)
    raise ValueError("the model config has no decoder_start_token_id (nor bos/pad id) to start the decoder with")


@torch.no_grad()
def compute_attention_maps(model, tokenizer, text: str, target_text: str | None = None,
                           max_new_tokens: int = 32) -> AttentionMaps:
    """Run `text` through `model` on the eager path and collect its attention weights.

    Encoder-decoder models: the encoder reads `text`; the decoder reads `decoder_start + target_text` shifted right
    (teacher forcing), or, when `target_text` is None, the model's own greedy output. Decoder rows are labelled with
    the token each position *predicts* (the target, end-of-sequence included). Decoder-only models read `text`
    (masked self-attention only, rows and columns = the tokens read); encoder-only models read `text`.
    """
    ensure_eager(model)
    model.eval()
    name = type(model).__name__
    architecture = _architecture(model)
    device = next(model.parameters()).device
    encoded = tokenizer(text, return_tensors="pt")
    input_ids = encoded["input_ids"].to(device)
    inputs = {"input_ids": input_ids}
    if "token_type_ids" in encoded and getattr(model.config, "type_vocab_size", 0):
        inputs["token_type_ids"] = encoded["token_type_ids"].to(device)
    source_tokens = token_labels(tokenizer, input_ids[0])
    maps = AttentionMaps(architecture=architecture)

    if getattr(model.config, "is_encoder_decoder", False):
        if target_text is not None:
            target = tokenizer(text_target=target_text, return_tensors="pt")["input_ids"].to(device)
            start = torch.full((1, 1), _decoder_start(model), dtype=target.dtype, device=device)
            sequence = torch.cat([start, target], dim=1)  # <start> y_1 ... y_n
        else:
            if not hasattr(model, "generate"):
                raise ValueError(f"{name} cannot generate; pass target_text to see its decoder attention")
            sequence = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
        if sequence.shape[1] < 2:
            raise ValueError("the decoder sequence is empty; pass a non-empty target_text")
        # Teacher forcing: the decoder reads the sequence shifted right, and position t predicts token t + 1.
        decoder_input_ids, predicted = sequence[:, :-1], sequence[:, 1:]
        outputs = model(**inputs, decoder_input_ids=decoder_input_ids, output_attentions=True, use_cache=False,
                        return_dict=True)
        read_tokens = token_labels(tokenizer, decoder_input_ids[0])
        predicted_tokens = token_labels(tokenizer, predicted[0])
        maps.weights["self"] = _stack(getattr(outputs, "encoder_attentions", None), "encoder_attentions", name)
        maps.weights["masked"] = _stack(getattr(outputs, "decoder_attentions", None), "decoder_attentions", name)
        maps.weights["cross"] = _stack(getattr(outputs, "cross_attentions", None), "cross_attentions", name)
        # Decoder rows are labelled with the token each position predicts (as in alignment pictures); the masked
        # self-attention's columns with the tokens the decoder reads, so row "love" sees "<s> Tobigs , I" only.
        maps.query_tokens = {"self": source_tokens, "masked": predicted_tokens, "cross": predicted_tokens}
        maps.key_tokens = {"self": source_tokens, "masked": read_tokens, "cross": source_tokens}
        maps.decoder_rows_predict = True
        return maps

    if target_text is not None:
        raise ValueError(f"target_text applies to encoder-decoder models only; {name} is {architecture!r}")
    extra = {} if architecture == "encoder-only" else {"use_cache": False}
    outputs = model(**inputs, output_attentions=True, return_dict=True, **extra)
    weights = _stack(getattr(outputs, "attentions", None), "attentions", name)
    if architecture == "decoder-only":
        kind = "masked"
    elif architecture == "encoder-only":
        kind = "self"
    else:  # a model from elsewhere: recognise the look-ahead mask from the weights themselves
        kind = "masked" if _is_causal(weights) else "self"
    maps.weights[kind] = weights
    maps.query_tokens[kind] = source_tokens
    maps.key_tokens[kind] = source_tokens
    return maps


# ---------------------------------------------------------------------------------------------------------------
# Plotting
# ---------------------------------------------------------------------------------------------------------------


def _select(count: int, chosen: int | Sequence[int] | None, what: str) -> list[int]:
    if chosen is None:
        return list(range(count))
    chosen = [chosen] if isinstance(chosen, int) else list(chosen)
    for index in chosen:
        if not -count <= index < count:
            raise ValueError(f"{what} {index} does not exist; the model has {count} {what}s (0..{count - 1})")
    return [index % count for index in chosen]


def plot_attention(maps: AttentionMaps, kind: str, layers: int | Sequence[int] | None = None,
                   heads: int | Sequence[int] | None = None, average_heads: bool = False,
                   title: str | None = None, cmap: str = "viridis") -> Figure:
    """Heatmaps of one kind of attention: one panel per (layer, head), rows = layers, columns = heads; with
    `average_heads=True` one panel per layer showing the mean over the chosen heads. One colour scale (0 to the largest
    weight shown) for all panels; queries on the y axis, keys on the x axis."""
    if kind not in maps.weights:
        available = ", ".join(maps.kinds) or "none"
        raise ValueError(f"no {kind!r} attention for this model ({maps.architecture}); available: {available}")
    weights = maps.weights[kind]
    num_layers, num_heads = weights.shape[:2]
    layer_ids = _select(num_layers, layers, "layer")
    head_ids = _select(num_heads, heads, "head")
    queries, keys = maps.query_tokens[kind], maps.key_tokens[kind]

    panels: list[tuple[str, np.ndarray]] = []
    for layer in layer_ids:
        if average_heads:
            label = f"layer {layer}, mean of {len(head_ids)} heads" if len(head_ids) < num_heads else \
                f"layer {layer}, mean over heads"
            panels.append((label, weights[layer, head_ids].mean(axis=0)))
        else:
            panels += [(f"layer {layer} · head {head}", weights[layer, head]) for head in head_ids]
    if average_heads:
        rows, cols = grid_shape(len(panels), max_cols=3)
    else:
        rows, cols = len(layer_ids), len(head_ids)

    tq, tk = len(queries), len(keys)
    cell = 0.30 if max(tq, tk) <= 16 else 0.22
    panel_w, panel_h = max(2.4, cell * tk + 0.9), max(2.2, cell * tq + 0.7)
    fig = new_figure(min(cols * panel_w + 1.2, 40), min(rows * panel_h + 0.8, 60))
    axes = fig.subplots(rows, cols, squeeze=False)
    vmax = max(float(w.max()) for _, w in panels) or 1.0
    colormap = colormaps[cmap].with_extremes(bad="#d9d9d9")
    tick_size = 9 if max(tq, tk) <= 12 else 7 if max(tq, tk) <= 24 else 5
    image = None
    for index, ax in enumerate(axes.flat):
        if index >= len(panels):
            ax.set_axis_off()
            continue
        label, matrix = panels[index]
        shown = matrix
        if kind == "masked":  # the look-ahead mask: grey above the diagonal (the weights there are exactly 0)
            shown = np.ma.masked_where(np.triu(np.ones_like(matrix, dtype=bool), 1), matrix)
        image = ax.imshow(shown, cmap=colormap, vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
        mark_panel(ax)
        ax.set_title(label, fontsize=9)
        row, col = divmod(index, cols)
        ax.set_xticks(range(tk))
        ax.set_yticks(range(tq))
        last_row = row == rows - 1 or index + cols >= len(panels)
        if tk <= 16:
            ax.set_xticklabels(keys if last_row else [], rotation=45, ha="right", rotation_mode="anchor",
                               fontsize=tick_size)
        else:
            ax.set_xticklabels(keys if last_row else [], rotation=90, fontsize=tick_size)
        ax.set_yticklabels(queries if col == 0 else [], fontsize=tick_size)
        ax.tick_params(length=0)
        if col == 0:
            ax.set_ylabel("predicting (query)" if kind != "self" and maps.decoder_rows_predict else "query",
                          fontsize=8)
        if last_row:
            ax.set_xlabel("reads (key)" if kind == "masked" and maps.decoder_rows_predict else "key", fontsize=8)
    data_axes = [ax for ax in axes.flat if ax.get_label() == "panel"]
    colorbar = fig.colorbar(image, ax=data_axes, shrink=0.9 if rows > 1 else 1.0, pad=0.02)
    colorbar.set_label("attention weight" + ("  (grey: masked, = 0)" if kind == "masked" else ""), fontsize=8)
    heading = title or KIND_TITLES[kind]
    fig.suptitle(heading, fontsize=10)
    return fig


def save_attention_figures(maps: AttentionMaps, out_dir: str | os.PathLike, kinds: Sequence[str] | None = None,
                           layers=None, heads=None, average_heads: bool = False, per_layer: bool = False,
                           prefix: str = "attention", dpi: int = 110) -> list[Path]:
    """Write one PNG per kind (or per kind and layer with `per_layer=True`) into `out_dir`; returns the paths."""
    kinds = list(kinds) if kinds else maps.kinds
    out_dir = Path(out_dir)
    paths = []
    for kind in kinds:
        if kind not in maps.weights:
            raise ValueError(f"no {kind!r} attention for this model ({maps.architecture}); available: "
                             f"{', '.join(maps.kinds)}")
        suffix = "_mean" if average_heads else ""
        if per_layer:
            for layer in _select(maps.weights[kind].shape[0], layers, "layer"):
                fig = plot_attention(maps, kind, layers=[layer], heads=heads, average_heads=average_heads)
                paths.append(save_figure(fig, out_dir / f"{prefix}_{kind}_layer{layer}{suffix}.png", dpi=dpi))
        else:
            fig = plot_attention(maps, kind, layers=layers, heads=heads, average_heads=average_heads)
            paths.append(save_figure(fig, out_dir / f"{prefix}_{kind}{suffix}.png", dpi=dpi))
    return paths


__all__ = [
    "AttentionMaps",
    "KINDS",
    "compute_attention_maps",
    "ensure_eager",
    "load_for_attention",
    "plot_attention",
    "save_attention_figures",
    "token_label",
    "token_labels",
]
