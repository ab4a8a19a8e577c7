"""Positional encodings as pictures: the sinusoid table of §3.5 and the distances between its position vectors.

    PE(pos, 2i) = sin(pos / 10000^(2i/d)),   PE(pos, 2i+1) = cos(pos / 10000^(2i/d))

For the interleaved sinusoid table the squared Euclidean distance between two positions depends only on their
offset k = |p - q|:

    ||PE(p) - PE(q)||^2 = sum_i [ (sin(p w_i) - sin(q w_i))^2 + (cos(p w_i) - cos(q w_i))^2 ] = sum_i 2 (1 - cos(k w_i))

so the distance matrix is symmetric, zero on the diagonal and constant along every diagonal (Toeplitz): nearby
positions are close, and "k steps apart" looks the same everywhere. A learned table (GPT, BERT, BART) has no such
guarantee; `position_table_from_model` reads it so the two can be compared.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from ..model.positional_encoding import LearnedPositionalEmbedding, SinusoidalPositionalEncoding, sinusoidal_table
from .common import mark_panel, new_figure

METRICS = ("euclidean", "cosine", "dot")


def sinusoidal_encoding(num_positions: int = 10, dim: int = 10, layout: str = "interleaved") -> np.ndarray:
    """The (num_positions, dim) sinusoid table of the model (`positional_encoding.sinusoidal_table`) as numpy."""
    return sinusoidal_table(num_positions, dim, layout).double().numpy()


def pairwise_distances(table: np.ndarray | torch.Tensor, metric: str = "euclidean") -> np.ndarray:
    """(P, P) matrix between the rows of `table`: Euclidean distance, cosine distance (1 - cos) or dot product."""
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is not supported; choose one of {', '.join(METRICS)}")
    x = table.detach().double().cpu().numpy() if isinstance(table, torch.Tensor) else np.asarray(table, np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a (positions, dim) table, got shape {x.shape}")
    gram = x @ x.T
    if metric == "dot":
        return gram
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1)
        similarity = gram / np.maximum(np.outer(norms, norms), 1e-12)
        distances = 1.0 - similarity
    else:
        squared = np.sum(x * x, axis=1)
        distances = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2.0 * gram, 0.0))
    distances = (distances + distances.T) / 2.0  # exactly symmetric
    np.fill_diagonal(distances, 0.0)
    return distances


def sinusoidal_distance_formula(num_positions: int, dim: int) -> np.ndarray:
    """Closed form of the Euclidean distances of the sinusoid table (either layout; see the module docstring).
    Needs an even `dim` (with an odd one the last sine has no cosine partner and the distance is not a function of
    the offset alone)."""
    if dim % 2:
        raise ValueError(f"the closed form needs an even dim, got {dim}")
    frequencies = 10000.0 ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)
    offsets = np.abs(np.arange(num_positions)[:, None] - np.arange(num_positions)[None, :]).astype(np.float64)
    angles = offsets[..., None] * frequencies  # (P, P, d/2): k * w_i
    return np.sqrt((2.0 * (1.0 - np.cos(angles))).sum(-1))


def position_table_from_model(model, stack: str | None = None, num_positions: int | None = None) -> np.ndarray:
    """The position vectors a tobigs model adds to its token embeddings, (positions, d_model), from the encoder (or
    `stack="decoder"`). Learned tables drop BART's reserved offset rows; sinusoidal ones are the fixed table."""
    stacks = [stack] if stack else ["encoder", "decoder"]
    base = getattr(model, "model", model)
    for name in stacks:
        module = getattr(base, name, None)
        embeddings = getattr(getattr(module, "embeddings", None), "position_embeddings", None)
        if isinstance(embeddings, LearnedPositionalEmbedding):
            table = embeddings.weight[embeddings.offset:]
        elif isinstance(embeddings, SinusoidalPositionalEncoding):
            table = embeddings.pe
        else:
            continue
        table = table.detach().float().cpu().numpy()
        return table[:num_positions] if num_positions else table
    raise ValueError(f"{type(model).__name__} has no position table in its {' or '.join(stacks)} stack")


def plot_positional_encoding(table: np.ndarray, title: str = "sinusoidal positional encoding",
                             metric: str = "euclidean", annotate: bool | None = None) -> Figure:
    """Two panels: the table as a heatmap (positions x dimensions) and the pairwise distance matrix of its rows."""
    table = np.asarray(table, dtype=np.float64)
    num_positions, dim = table.shape
    distances = pairwise_distances(table, metric)
    if annotate is None:
        annotate = num_positions <= 12
    fig = new_figure(11.0, 4.6)
    left, right = fig.subplots(1, 2, width_ratios=[1.25, 1.0])
    limit = float(np.abs(table).max()) or 1.0
    image = left.imshow(table, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
    mark_panel(left)
    left.set_xlabel("dimension i (even: sin, odd: cos)" if "sinusoid" in title else "dimension")
    left.set_ylabel("position")
    left.set_title(f"{title}\n{num_positions} positions × {dim} dimensions", fontsize=10)
    fig.colorbar(image, ax=left, pad=0.02, label="value")
    if num_positions <= 32:
        left.set_yticks(range(num_positions))
    if dim <= 32:
        left.set_xticks(range(dim))

    names = {"euclidean": "Euclidean distance ‖PE(p) − PE(q)‖", "cosine": "cosine distance 1 − cos(PE(p), PE(q))",
             "dot": "dot product PE(p)·PE(q)"}
    image = right.imshow(distances, cmap="magma_r" if metric != "dot" else "viridis", aspect="equal",
                         interpolation="nearest")
    mark_panel(right)
    right.set_title(f"{names[metric]}\nbetween position vectors", fontsize=10)
    right.set_xlabel("position q")
    right.set_ylabel("position p")
    fig.colorbar(image, ax=right, pad=0.02)
    if num_positions <= 32:
        right.set_xticks(range(num_positions))
        right.set_yticks(range(num_positions))
    if annotate:
        middle = (distances.max() + distances.min()) / 2
        for p in range(num_positions):
            for q in range(num_positions):
                value = distances[p, q]
                right.text(q, p, f"{value:.2f}", ha="center", va="center", fontsize=6.5,
                           color="white" if (value > middle) == (metric != "dot") else "black")
    return fig


def plot_distance_profile(tables: dict[str, np.ndarray], max_offset: int | None = None) -> Figure:
    """Mean Euclidean distance between positions k apart, against k, for several tables (e.g. sinusoidal vs a
    model's learned table): a monotone curve means "farther in the sequence = farther in the space"."""
    fig = new_figure(6.4, 4.0)
    ax = mark_panel(fig.subplots())
    for name, table in tables.items():
        distances = pairwise_distances(table)
        limit = min(max_offset or distances.shape[0] - 1, distances.shape[0] - 1)
        offsets = np.arange(1, limit + 1)
        means = [np.diagonal(distances, k).mean() for k in offsets]
        norm = np.linalg.norm(np.asarray(table), axis=1).mean()
        ax.plot(offsets, np.asarray(means) / max(norm, 1e-12), label=name)
    ax.set_xlabel("offset k = |p − q|")
    ax.set_ylabel("mean distance / mean vector norm")
    ax.set_title("how far apart are positions k steps apart?", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


__all__ = [
    "METRICS",
    "pairwise_distances",
    "plot_distance_profile",
    "plot_positional_encoding",
    "position_table_from_model",
    "sinusoidal_distance_formula",
    "sinusoidal_encoding",
]
