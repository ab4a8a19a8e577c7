"""Adaptive input (Baevski & Auli 2019) and adaptive softmax (Grave et al. 2017), as Transformer-XL uses them.

A word-level vocabulary (WikiText-103: 267,735 words) makes the token table and the output softmax the largest part
of a small model and of its training step. Both papers cut the vocabulary, sorted most frequent first, into clusters
at `cutoffs`:

    cluster 0 (the head, the "shortlist"): ids [0, c_1)          width d_embed
    cluster i (a tail):                    ids [c_i, c_{i+1})    width d_embed // div_val**i

Rare words get narrower vectors: each cluster has its own table and its own projection to d_model.

Adaptive input (`AdaptiveEmbedding`): e(w) = sqrt(d_model) * P_i E_i[w - c_i] for the cluster i of w.

Adaptive softmax (`ProjectedAdaptiveLogSoftmax`), two levels: the head softmax scores the shortlist words and one
logit per tail cluster; a word of tail i has

    log p(w | h) = log p_head(cluster i | h) + log p_i(w | h, cluster i)

where p_i is a softmax over the cluster's words only. So the loss of a token of the shortlist needs only the head
(c_1 + n_clusters logits), and a tail token its own cluster besides: a training step never builds (tokens x vocab)
logits. With `config.loss_chunk_size > 0` the head is also computed `loss_chunk_size` tokens at a time and
recomputed in backward (activation checkpointing per chunk), so its (tokens x head) log-probabilities are not kept
either.

The parameters are named and shaped as in the authors' code (kimiyoung/transformer-xl, `mem_transformer.py`
`AdaptiveEmbedding` and `utils/proj_adaptive_softmax.py`), so that their checkpoints load without reshaping:
`emb_layers.i` (an nn.Embedding per cluster), `emb_projs.i` (d_model, d_emb_i) applied as F.linear(e, proj);
`out_layers.i` (nn.Linear d_emb_i -> cluster size, with bias), `out_projs.i` (d_model, d_emb_i) applied as
F.linear(h, proj.t()), and `cluster_weight` (n_clusters, d_embed), `cluster_bias` (n_clusters,). With div_val=1 there
is one table and one `out_layers.0` for the whole vocabulary, the clusters being slices of them, and the projections
exist only when d_embed != d_model (then every cluster of the softmax has one).

One detail of the authors' code is kept on purpose: the head's logit of tail cluster i is column `-i` of the head
(the last column for the first tail), i.e. row `n_clusters - i` of `cluster_weight`, the reverse of the order in
which they are concatenated. Their trained weights mean that. transformers 4.x's `TransfoXLLMHeadModel` reads
column `cutoffs[0] + i - 1` instead (row i - 1, in its loss and its `prediction_scores`; only its unused `log_prob`
reads -i), so the converter reverses a 4.x checkpoint's rows (`convert/transfo_xl.py`).
"""

from itertools import pairwise

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint


class ClusterProjections(nn.ParameterList):
    """The per-cluster projections (d_model, d_emb_i), a ParameterList as the authors' (keys `emb_projs.i`,
    `out_projs.i`); its own type so that weight initialisation finds them (`TobigsPreTrainedModel._init_weights`)."""


def cluster_bounds(vocab_size: int, cutoffs: list[int] | None) -> list[tuple[int, int]]:
    """[(start, end)] of every cluster: [0, c_1), [c_1, c_2), ..., [c_n, vocab_size)."""
    edges = [0, *(cutoffs or []), vocab_size]
    return list(pairwise(edges))


def cluster_width(d_embed: int, div_val: int, cluster: int) -> int:
    """The width of cluster i's vectors: d_embed // div_val**i (Baevski & Auli's factor k = div_val)."""
    return d_embed // div_val**cluster


def log_softmax_at_least_float32(logits: torch.Tensor) -> torch.Tensor:
    """log_softmax in float32 for half-precision logits (as the full softmax's loss), in float64 for float64 ones."""
    return torch.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)


class AdaptiveEmbedding(nn.Module):
    """Adaptive input representations: per cluster a table of width d_embed // div_val**i and a projection to
    d_model, the result scaled by sqrt(d_model). `num_embeddings` and `embedding_dim` (= d_model, the width of what
    it returns) answer as an nn.Embedding's do."""

    def __init__(self, vocab_size: int, d_embed: int, d_model: int, cutoffs: list[int] | None, div_val: int = 1):
        super().__init__()
        self.bounds = cluster_bounds(vocab_size, cutoffs)
        self.div_val = div_val
        self.num_embeddings = vocab_size
        self.embedding_dim = d_model
        self.emb_scale = d_model**0.5
        self.emb_layers = nn.ModuleList()
        self.emb_projs = ClusterProjections()
        if div_val == 1:
            # One table for the whole vocabulary; a projection only when it is narrower (or wider) than d_model.
            self.emb_layers.append(nn.Embedding(vocab_size, d_embed))
            if d_embed != d_model:
                self.emb_projs.append(nn.Parameter(torch.empty(d_model, d_embed)))
        else:
            for i, (start, end) in enumerate(self.bounds):
                width = cluster_width(d_embed, div_val, i)
                self.emb_layers.append(nn.Embedding(end - start, width))
                self.emb_projs.append(nn.Parameter(torch.empty(d_model, width)))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        if self.div_val == 1:
            embeds = self.emb_layers[0](input_ids)  # (B, T, d_embed)
            if len(self.emb_projs):
                embeds = F.linear(embeds, self.emb_projs[0])  # (B, T, d_embed) -> (B, T, d_model)
            return embeds * self.emb_scale
        embeds = None
        for i, (start, end) in enumerate(self.bounds):
            inside = (input_ids >= start) & (input_ids < end)  # (B, T)
            # Every token looks up a row of every cluster (a valid one, clamped) and keeps its own cluster's: static
            # shapes, and the other clusters' rows get a zero gradient through `where`.
            local = (input_ids - start).clamp(0, end - start - 1)
            # (B, T) -> (B, T, d_emb_i) -> (B, T, d_model)
            cluster_embeds = F.linear(self.emb_layers[i](local), self.emb_projs[i])
            embeds = cluster_embeds if embeds is None else torch.where(inside[..., None], cluster_embeds, embeds)
        return embeds * self.emb_scale


class ProjectedAdaptiveLogSoftmax(nn.Module):
    """The adaptive softmax over per-cluster projections (Transformer-XL's `ProjectedAdaptiveLogSoftmax`).

    `forward(hidden)` returns log p(w | h) for every word of the vocabulary, float32 (float64 for a float64 model),
    (..., vocab_size): what the
    model returns as `logits` (a softmax over them gives the same distribution back, so generate and pipelines use
    them unchanged). `nll_sum(hidden, targets)` is the training loss without them."""

    def __init__(self, vocab_size: int, d_embed: int, d_model: int, cutoffs: list[int] | None, div_val: int = 1):
        super().__init__()
        self.bounds = cluster_bounds(vocab_size, cutoffs)
        self.div_val = div_val
        self.vocab_size = vocab_size
        self.n_clusters = len(self.bounds) - 1
        self.shortlist_size = self.bounds[0][1]
        self.head_size = self.shortlist_size + self.n_clusters
        if self.n_clusters:
            # One logit per tail cluster in the head softmax, d_embed wide as the shortlist's rows.
            self.cluster_weight = nn.Parameter(torch.empty(self.n_clusters, d_embed))
            self.cluster_bias = nn.Parameter(torch.empty(self.n_clusters))
        self.out_layers = nn.ModuleList()
        self.out_projs = ClusterProjections()
        if div_val == 1:
            self.out_layers.append(nn.Linear(d_embed, vocab_size))
            if d_embed != d_model:
                for _ in self.bounds:
                    self.out_projs.append(nn.Parameter(torch.empty(d_model, d_embed)))
        else:
            for i, (start, end) in enumerate(self.bounds):
                width = cluster_width(d_embed, div_val, i)
                self.out_layers.append(nn.Linear(width, end - start))
                self.out_projs.append(nn.Parameter(torch.empty(d_model, width)))

    def cluster_parameters(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(weight, bias, projection) of cluster i's output layer; the head's without its cluster rows."""
        projection = self.out_projs[i] if len(self.out_projs) else None
        if self.div_val == 1:
            start, end = self.bounds[i]
            return self.out_layers[0].weight[start:end], self.out_layers[0].bias[start:end], projection
        return self.out_layers[i].weight, self.out_layers[i].bias, projection

    @staticmethod
    def project_and_score(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                          projection: torch.Tensor | None) -> torch.Tensor:
        """Logits of one cluster: (h P) W^T + b, P being (d_model, d_emb) as the authors store it."""
        if projection is not None:
            hidden = F.linear(hidden, projection.t())  # (N, d_model) -> (N, d_emb_i)
        return F.linear(hidden, weight, bias)  # (N, cluster size)

    def head_log_probs(self, hidden: torch.Tensor) -> torch.Tensor:
        """log p over the head: the shortlist's words, then one column per tail cluster (tail i at column -i)."""
        weight, bias, projection = self.cluster_parameters(0)
        if self.n_clusters:
            weight = torch.cat([weight, self.cluster_weight], dim=0)  # (shortlist + n_clusters, d_embed)
            bias = torch.cat([bias, self.cluster_bias], dim=0)
        return log_softmax_at_least_float32(self.project_and_score(hidden, weight, bias, projection))

    def tail_log_probs(self, hidden: torch.Tensor, i: int) -> torch.Tensor:
        """log p_i(w | h, cluster i) over the words of tail cluster i, at least float32."""
        return log_softmax_at_least_float32(self.project_and_score(hidden, *self.cluster_parameters(i)))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """log p(w | h) for every word: (..., d_model) -> (..., vocab_size), at least float32."""
        head = self.head_log_probs(hidden_states)  # (..., head_size)
        parts = [head[..., : self.shortlist_size]]
        for i in range(1, self.n_clusters + 1):
            # log p(cluster i) + log p(w | cluster i), broadcast over the cluster's words.
            parts.append(head[..., -i, None] + self.tail_log_probs(hidden_states, i))
        return torch.cat(parts, dim=-1)

    def nll_sum(self, hidden: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
        """sum_t -log p(targets_t | hidden_t) over the targets that are not `ignore_index`, at least float32.

        hidden: (N, d_model), targets: (N,). A tail cluster's softmax runs over its own tokens only."""
        head = self.head_log_probs(hidden)  # (N, head_size)
        valid = targets != ignore_index
        in_shortlist = valid & (targets < self.shortlist_size)
        picked = head.gather(1, targets.clamp(0, self.shortlist_size - 1)[:, None]).squeeze(1)  # (N,)
        total = -torch.where(in_shortlist, picked, 0.0).sum()
        for i in range(1, self.n_clusters + 1):
            start, end = self.bounds[i]
            rows = (valid & (targets >= start) & (targets < end)).nonzero().squeeze(1)  # (N_i,)
            if rows.numel() == 0:
                continue
            tail = self.tail_log_probs(hidden[rows], i)  # (N_i, cluster size)
            word = tail.gather(1, (targets[rows] - start)[:, None]).squeeze(1)  # (N_i,)
            total = total - (head[rows, -i] + word).sum()
        return total

    def loss_sum(self, hidden: torch.Tensor, targets: torch.Tensor, chunk_size: int = 0,
                 ignore_index: int = -100) -> torch.Tensor:
        """`nll_sum` over (..., d_model) hidden states and (...) targets, the positions without a target dropped
        first; with chunk_size > 0, `chunk_size` tokens at a time, each chunk recomputed in backward (under autograd)
        so that no chunk's head log-probabilities are kept. The same value and gradients either way."""
        hidden = hidden.reshape(-1, hidden.shape[-1])  # (N, d_model)
        targets = targets.reshape(-1).to(hidden.device)  # (N,)
        keep = targets != ignore_index
        hidden, targets = hidden[keep], targets[keep]  # (M, d_model), (M,)
        if chunk_size <= 0 or hidden.shape[0] <= chunk_size:
            return self.nll_sum(hidden, targets, ignore_index)
        recompute = torch.is_grad_enabled()
        total = hidden.new_zeros((), dtype=torch.promote_types(hidden.dtype, torch.float32))
        for start in range(0, hidden.shape[0], chunk_size):
            chunk = (hidden[start : start + chunk_size], targets[start : start + chunk_size], ignore_index)
            total = total + (checkpoint(self.nll_sum, *chunk, use_reentrant=False) if recompute
                             else self.nll_sum(*chunk))
        return total


def adaptive_tied_weights(config, head: str, embedding: str) -> dict[str, str]:
    """{softmax parameter: adaptive-input parameter} to tie, as the authors: every `out_layers.i.weight` to
    `emb_layers.i.weight` when `tie_word_embeddings`, and `out_projs.i` to `emb_projs.i` (div_val=1: `emb_projs.0`)
    where `tie_projs[i]`. `head` and `embedding` are the modules' names in the model."""
    if not (config.adaptive_input and config.adaptive_softmax):
        return {}
    tied = {}
    n_clusters = len(config.cutoffs or []) + 1
    if config.tie_word_embeddings:
        for i in range(1 if config.div_val == 1 else n_clusters):
            tied[f"{head}.out_layers.{i}.weight"] = f"{embedding}.emb_layers.{i}.weight"
    width = config.embedding_size or config.d_model
    has_projections = config.div_val != 1 or width != config.d_model
    for i, tie in enumerate(config.tie_projs or []):
        if tie and has_projections:
            tied[f"{head}.out_projs.{i}"] = f"{embedding}.emb_projs.{0 if config.div_val == 1 else i}"
    return tied


__all__ = ["AdaptiveEmbedding", "ClusterProjections", "ProjectedAdaptiveLogSoftmax", "adaptive_tied_weights",
           "cluster_bounds", "cluster_width", "log_softmax_at_least_float32"]
