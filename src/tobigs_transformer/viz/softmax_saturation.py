"""Why the scores are divided by sqrt(d_k) before the softmax (paper §3.2.1, footnote 4).

If the components of q and k are independent with mean 0 and variance 1, then q·k = sum_{i=1..d_k} q_i k_i has mean 0
and variance d_k. Unscaled, the scores spread out as sqrt(d_k) grows, the softmax puts almost all its mass on the
largest score (its entropy collapses towards 0) and its Jacobian diag(p) - p p^T - the gradient that flows back into
Q and K - vanishes. Dividing by sqrt(d_k) keeps the variance at 1 for every d_k.

`saturation_statistics` measures this on random Gaussian queries and keys; `plot_softmax_saturation` draws it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from .common import mark_panel, new_figure

DEFAULT_D_KS = (4, 16, 64, 256, 1024)


@torch.no_grad()
def saturation_statistics(d_ks: Sequence[int] = DEFAULT_D_KS, num_keys: int = 32, num_queries: int = 512,
                          seed: int = 0) -> dict:
    """For each d_k: the scores q·k of `num_queries` random queries against `num_keys` random keys (entries N(0, 1)),
    unscaled and scaled by 1/sqrt(d_k), and per setting the score standard deviation, the softmax entropy (mean over
    queries, in nats, and as a fraction of the uniform entropy log(num_keys)), the mean largest weight and the mean
    Frobenius norm of the softmax Jacobian diag(p) - p p^T. Scores are kept for the histograms."""
    generator = torch.Generator().manual_seed(seed)
    result = {"d_k": list(d_ks), "num_keys": num_keys, "num_queries": num_queries,
              "max_entropy": float(np.log(num_keys)), "unscaled": {}, "scaled": {}}
    for scaled in (False, True):
        stats = {"score_std": [], "entropy": [], "normalized_entropy": [], "max_weight": [], "jacobian_norm": [],
                 "scores": []}
        for d_k in d_ks:
            queries = torch.randn(num_queries, d_k, generator=generator, dtype=torch.float64)
            keys = torch.randn(num_queries, num_keys, d_k, generator=generator, dtype=torch.float64)
            scores = torch.einsum("qd,qkd->qk", queries, keys)  # (Q, K), variance d_k
            if scaled:
                scores = scores / d_k**0.5
            p = torch.softmax(scores, dim=-1)
            entropy = -(p * torch.log(p.clamp_min(1e-300))).sum(-1)
            jacobian = torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)  # (Q, K, K)
            stats["score_std"].append(float(scores.std()))
            stats["entropy"].append(float(entropy.mean()))
            stats["normalized_entropy"].append(float(entropy.mean() / np.log(num_keys)))
            stats["max_weight"].append(float(p.max(-1).values.mean()))
            stats["jacobian_norm"].append(float(torch.linalg.matrix_norm(jacobian).mean()))
            stats["scores"].append(scores.flatten().float().numpy())
        result["scaled" if scaled else "unscaled"] = stats
    return result


def plot_softmax_saturation(stats: dict | None = None) -> Figure:
    """Four panels: score histograms without and with the scaling, softmax entropy vs d_k, gradient norm vs d_k."""
    stats = stats or saturation_statistics()
    d_ks = stats["d_k"]
    fig = new_figure(11.0, 7.6)
    axes = fig.subplots(2, 2)
    colours = [f"C{i}" for i in range(len(d_ks))]
    for ax, key, heading in ((axes[0, 0], "unscaled", "scores q·k (no scaling)"),
                             (axes[0, 1], "scaled", "scores q·k / √d_k")):
        mark_panel(ax)
        for colour, d_k, scores in zip(colours, d_ks, stats[key]["scores"]):
            ax.hist(scores, bins=80, density=True, histtype="step", linewidth=1.4, color=colour, label=f"d_k = {d_k}")
        ax.set_title(heading, fontsize=10)
        ax.set_xlabel("score")
        ax.set_ylabel("density")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    # The same x range for both histograms, so the spread is comparable at a glance.
    limit = max(np.abs(s).max() for s in stats["unscaled"]["scores"])
    axes[0, 0].set_xlim(-limit, limit)
    axes[0, 1].set_xlim(-limit, limit)

    ax = mark_panel(axes[1, 0])
    ax.plot(d_ks, stats["unscaled"]["entropy"], "o-", color="C3", label="no scaling")
    ax.plot(d_ks, stats["scaled"]["entropy"], "s-", color="C0", label="÷ √d_k")
    ax.axhline(stats["max_entropy"], color="grey", linestyle="--", linewidth=1,
               label=f"uniform over {stats['num_keys']} keys")
    ax.set_xscale("log", base=2)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("d_k")
    ax.set_ylabel("softmax entropy (nats)")
    ax.set_title("attention entropy: unscaled softmax saturates", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)

    ax = mark_panel(axes[1, 1])
    ax.plot(d_ks, stats["unscaled"]["jacobian_norm"], "o-", color="C3", label="no scaling")
    ax.plot(d_ks, stats["scaled"]["jacobian_norm"], "s-", color="C0", label="÷ √d_k")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("d_k")
    ax.set_ylabel("‖∂softmax/∂scores‖ (Frobenius)")
    ax.set_title("gradient through the softmax vanishes without scaling", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.suptitle(f"why attention scores are divided by √d_k  ({stats['num_queries']} random queries, "
                 f"{stats['num_keys']} keys, entries ~ N(0, 1))", fontsize=11)
    return fig


def summary(stats: dict) -> dict:
    """The statistics without the raw scores (JSON-friendly)."""
    return {key: ({k: v for k, v in value.items() if k != "scores"} if isinstance(value, dict) else value)
            for key, value in stats.items()}


__all__ = ["DEFAULT_D_KS", "plot_softmax_saturation", "saturation_statistics", "summary"]
