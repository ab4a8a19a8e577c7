"""BART denoising collator: the five noising transforms of Lewis et al. 2019 (§2.2, Figure 2) plus Pegasus gap sentences.

BART is trained to reconstruct a document from a corrupted copy.  The paper compares five corruptions, all
implemented here with fairseq's parameter names (``fairseq/data/denoising_dataset.py``):

* **token masking** – ``mask_length="subword", replace_length=-1``: chosen tokens become ``<mask>``;
* **token deletion** – ``mask_length="subword", replace_length=0``: chosen tokens are removed;
* **text infilling** – ``mask_length="span-poisson", replace_length=1``: spans with lengths ~ Poisson(λ) are each
  replaced by ONE ``<mask>``; zero-length spans become inserted ``<mask>`` tokens;
* **sentence permutation** – ``permute_sentences``: the document's sentences are shuffled;
* **document rotation** – ``rotate``: the document is rotated to start at a uniformly chosen token;
* plus fairseq's ``insert`` (random ``<mask>``/random tokens inserted) and, for the lecture's Pegasus variant
  (Zhang et al. 2020), **gap-sentence generation** (``gap_sentence_ratio``).

Project decisions (``design/collators.md`` decision 3) that differ from fairseq, on purpose:

* spans are placed **without overlap** and cover exactly ``ceil(mask * n_units)`` units (fairseq's overlapping
  placement silently covers ~0.268 instead of 0.30);
* units are whole words when the tokenizer marks word starts (byte-level ``Ġ``, WordPiece ``##``, SentencePiece
  ``▁``), else tokens; the first token of the document and of every sentence always starts a unit;
* sentence boundaries come from preprocessing (:func:`tokenize_for_denoising` records ``sentence_ends``), never from
  punctuation ids;
* random replacements (``mask_random``) are drawn uniformly from the **non-special** vocabulary, so special tokens
  never appear as noise (fairseq may draw pad/eos);
* rotation picks the new first token uniformly among the n inner tokens (the paper's definition; P(identity)=1/n,
  fairseq's offset rule gives 2/(n+1));
* random draws are per-unit Bernoulli for ``mask_random`` (fairseq uses the same per-span rule).

The noising runs in numpy, one small vectorised pass per sequence, and is deterministic for a ``seed``.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal

import numpy as np

from transformers.utils import logging

from .packing import pack_sentences


logger = logging.get_logger(__name__)

__all__ = [
    "DataCollatorForDenoising",
    "NoisingConfig",
    "sample_span_lengths",
    "tokenize_for_denoising",
    "word_start_table",
]

MaskLength = Literal["subword", "word", "span-poisson"]


def _knob(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class NoisingConfig:
    """Every knob of the denoising corruption, declared once (the collator, the presets and ``tobigs train
    denoising``'s flags all read these fields).  Names follow fairseq's ``DenoisingDataset``.

    Presets are named constructors: :meth:`paper` (the defaults), :meth:`bart_large`, :meth:`pegasus`; each takes
    keyword overrides of single fields.
    """

    #: The preset names of ``--noising`` (each the constructor of the same name, ``-`` read as ``_``).
    PRESETS: ClassVar[tuple[str, ...]] = ("paper", "bart-large", "pegasus")

    mask: float = _knob(0.3, "Fraction of words/tokens to corrupt.")
    mask_random: float = _knob(0.0, "Probability that a replacement is a random token instead of the mask.")
    insert: float = _knob(0.0, "Fraction of extra tokens inserted.")
    rotate: float = _knob(0.0, "Probability of rotating a document.")
    permute_sentences: float = _knob(0.0, "Fraction of sentences permuted.")
    replace_length: int = _knob(1, "1: one mask per span, 0: delete, -1: one mask per token.")
    mask_length: MaskLength = _knob("span-poisson", "subword (tokens), word, or span-poisson (text infilling).")
    poisson_lambda: float = _knob(3.0, "Mean span length of text infilling.")
    word_units: bool | None = _knob(None, "Units are whole words (None: when the tokenizer marks word starts).")
    gap_sentence_ratio: float = _knob(0.0, "Pegasus: fraction of sentences removed and generated.")
    gap_sentence_token: str | None = _knob(
        None, "Pegasus: the token standing for a removed sentence ([MASK1]; None: the tokenizer's mask token)."
    )
    mlm_probability: float = _knob(
        0.0, "Pegasus: fraction of the remaining source tokens selected for MLM on the encoder input, replaced "
             "80/10/10 by the tokenizer's mask token ([MASK2]), a random token, or left unchanged."
    )

    def __post_init__(self) -> None:
        for name in ("mask", "mask_random", "insert", "rotate", "permute_sentences", "gap_sentence_ratio",
                     "mlm_probability"):
            _check_ratio(name, getattr(self, name))
        if self.mlm_probability >= 1.0:
            raise ValueError(f"mlm_probability must be in [0, 1), got {self.mlm_probability}")
        if isinstance(self.replace_length, bool) or self.replace_length not in (-1, 0, 1):
            raise ValueError(f"replace_length must be -1, 0 or 1, got {self.replace_length!r}")
        if self.mask_length not in typing.get_args(MaskLength):
            raise ValueError(f"mask_length must be one of {typing.get_args(MaskLength)}, got {self.mask_length!r}")
        if isinstance(self.poisson_lambda, bool) or not isinstance(self.poisson_lambda, (int, float)):
            raise TypeError(f"poisson_lambda must be a positive number, got {self.poisson_lambda!r}")
        if not self.poisson_lambda > 0 or math.isinf(self.poisson_lambda):
            raise ValueError(f"poisson_lambda must be > 0 and finite, got {self.poisson_lambda}")
        if self.word_units not in (None, True, False):
            raise ValueError(f"word_units must be True, False or None, got {self.word_units!r}")
        if self.gap_sentence_ratio > 0 and (self.permute_sentences > 0 or self.rotate > 0):
            raise ValueError(
                "gap_sentence_ratio (Pegasus) cannot be combined with permute_sentences or rotate, got "
                f"permute_sentences={self.permute_sentences}, rotate={self.rotate}"
            )

    @property
    def needs_sentences(self) -> bool:
        """Sentence boundaries (``sentence_ends``) are read from the features."""
        return self.permute_sentences > 0 or self.gap_sentence_ratio > 0

    def replace(self, **overrides: Any) -> NoisingConfig:
        """A copy with single knobs changed (validated again); an unknown knob is an error naming the known ones."""
        unknown = sorted(set(overrides) - {f.name for f in fields(self)})
        if unknown:
            raise TypeError(f"unknown noising knob(s) {unknown}; NoisingConfig has {[f.name for f in fields(self)]}")
        return dataclasses.replace(self, **overrides)

    # ------------------------------------------------------------------ presets
    @classmethod
    def preset(cls, name: str, **overrides: Any) -> NoisingConfig:
        """The preset called ``name`` (one of :attr:`PRESETS`), with ``overrides``."""
        if name not in cls.PRESETS:
            raise ValueError(f"unknown noising preset {name!r}; choose one of {cls.PRESETS}")
        return getattr(cls, name.replace("-", "_"))(**overrides)

    @classmethod
    def paper(cls, **overrides: Any) -> NoisingConfig:
        """BART's text infilling as the paper compares it (§4.1): 30 % of the words in Poisson(λ = 3) spans, each
        span one mask."""
        return cls().replace(**overrides)

    @classmethod
    def bart_large(cls, **overrides: Any) -> NoisingConfig:
        """The BART-large pretraining recipe (fairseq issue #1899 as corrected): text infilling of 30 % of the words
        with Poisson(3.5) spans, each span one mask (10 % of them a random token), and all sentences permuted."""
        return cls(mask=0.3, mask_random=0.1, permute_sentences=1.0, poisson_lambda=3.5).replace(**overrides)

    @classmethod
    def pegasus(cls, **overrides: Any) -> NoisingConfig:
        """Pegasus-large gap-sentence generation (Zhang et al. 2020): 30 % of the sentences, chosen by ROUGE-1
        against the rest (Ind-Orig), each replaced by one mask; no other noise.  The lecture's GSG + MLM objective is
        ``pegasus(mlm_probability=0.15, gap_sentence_token="<mask_1>")`` (two distinct mask tokens)."""
        return cls(mask=0.0, gap_sentence_ratio=0.3).replace(**overrides)


def sample_span_lengths(
    budget: int, generator: np.random.Generator | int | None = None, poisson_lambda: float = 3.0
) -> np.ndarray:
    """Raw Poisson(λ) span-length draws used to spend a masking ``budget`` (in units).

    Draws lengths i.i.d. from Poisson(``poisson_lambda``) until their running sum reaches ``budget`` and returns
    every draw up to and including the one that crosses the budget, **untrimmed** and zeros included.  The
    collator then trims the last span so the lengths sum to the budget exactly and turns zeros into inserted
    masks.  By Wald's identity the pooled histogram of these raw draws follows Poisson(λ), which is what a test
    can check (the trimmed lengths cannot pass such a test).
    """
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise TypeError(f"budget must be an int, got {type(budget).__name__}")
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    if not poisson_lambda > 0:
        raise ValueError(f"poisson_lambda must be > 0, got {poisson_lambda}")
    rng = generator if isinstance(generator, np.random.Generator) else np.random.default_rng(generator)
    if budget == 0:
        return np.zeros(0, dtype=np.int64)
    chunk = max(int(budget / poisson_lambda * 1.5) + 4, 8)
    draws = rng.poisson(poisson_lambda, size=chunk).astype(np.int64)
    cumsum = np.cumsum(draws)
    while cumsum[-1] < budget:
        more = rng.poisson(poisson_lambda, size=chunk).astype(np.int64)
        draws = np.concatenate([draws, more])
        cumsum = np.concatenate([cumsum, cumsum[-1] + np.cumsum(more)])
    stop = int(np.searchsorted(cumsum, budget, side="left"))
    return draws[: stop + 1]


def word_start_table(tokenizer: Any) -> tuple[np.ndarray, str]:
    """Boolean table over the vocabulary: does token id ``i`` start a word?  Returns ``(table, scheme)``.

    ``scheme`` is ``"byte-level"`` (``Ġ`` marks a leading space), ``"wordpiece"`` (``##`` marks a continuation),
    ``"metaspace"`` (``▁`` marks a leading space) or ``"token"`` (no marks: every token is its own unit).
    Special tokens are never word starts.
    """
    vocab_size = len(tokenizer)
    tokens = tokenizer.convert_ids_to_tokens(list(range(vocab_size)))
    tokens = ["" if t is None else t for t in tokens]
    if any(t.startswith("\u0120") for t in tokens):
        scheme, table = "byte-level", np.fromiter((t.startswith("\u0120") for t in tokens), bool, vocab_size)
    elif any(t.startswith("##") for t in tokens):
        scheme, table = "wordpiece", np.fromiter((not t.startswith("##") for t in tokens), bool, vocab_size)
    elif any(t.startswith("\u2581") for t in tokens):
        scheme, table = "metaspace", np.fromiter((t.startswith("\u2581") for t in tokens), bool, vocab_size)
    else:
        scheme, table = "token", np.ones(vocab_size, dtype=bool)
    special = [i for i in tokenizer.all_special_ids if i is not None and 0 <= i < vocab_size]
    table[special] = False
    return table, scheme


def tokenize_for_denoising(
    examples: Mapping[str, list],
    tokenizer: Any,
    max_length: int = 512,
    sentences_column: str = "sentences",
) -> dict[str, list]:
    """Batched ``datasets.map`` function: documents (lists of sentences) → ``<s> … </s>`` blocks with ``sentence_ends``.

    Whole sentences are packed greedily into blocks of at most ``max_length`` tokens without crossing documents;
    a sentence longer than a block is split.  ``sentence_ends[j]`` is the exclusive end position (in ``input_ids``
    coordinates) of the j-th sentence of the block, so sentence j spans ``[sentence_ends[j-1], sentence_ends[j])``
    with position 1 (after ``<s>``) as the first start and ``len(input_ids) - 1`` as the last end.
    """
    return pack_sentences(
        examples,
        tokenizer,
        max_length=max_length,
        sentences_column=sentences_column,
        cross_documents=False,
        return_sentence_ends=True,
        return_special_tokens_mask=False,
    )


def _check_ratio(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r}")
    value = float(value)
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


class DataCollatorForDenoising:
    """Pads a batch of ``<s> … </s>`` sequences and corrupts the sources with BART's noising functions.

    Features are dicts with ``input_ids`` (a list of ids that starts with the tokenizer's ``bos`` and ends with its
    ``eos``; prepare them with :func:`tokenize_for_denoising`) and, when ``permute_sentences`` or
    ``gap_sentence_ratio`` is used, ``sentence_ends``.  Returns ``input_ids``/``attention_mask`` (the corrupted
    source), ``labels`` (the uncorrupted sequence, padded with -100) and ``decoder_input_ids`` (labels shifted right
    behind ``decoder_start_token_id``, -100 → pad).  With ``gap_sentence_ratio > 0`` (Pegasus GSG) the labels are
    ``<s>`` + the removed sentences in document order + ``</s>`` instead.

    The corruption is a :class:`NoisingConfig` (``noising``; default :meth:`NoisingConfig.paper`); keyword
    arguments named after its fields override single knobs (``DataCollatorForDenoising(tok, mask=0.5)``).
    ``seed`` makes the noise reproducible; in a DataLoader worker the stream is re-seeded with ``(seed, worker_id)``.
    ``max_length`` (e.g. the model's ``max_position_embeddings``) rejects longer features with an error naming the
    length and the limit.  ``return_mlm_labels`` adds ``mlm_labels`` (the original token at every position that
    Pegasus MLM selected, -100 elsewhere) for a model with an MLM head on its encoder.
    """

    def __init__(
        self,
        tokenizer: Any,
        noising: NoisingConfig | None = None,
        *,
        seed: int | None = None,
        decoder_start_token_id: int | None = None,
        pad_to_multiple_of: int | None = None,
        return_tensors: str = "pt",
        sentence_ends_key: str = "sentence_ends",
        max_length: int | None = None,
        return_mlm_labels: bool = False,
        **knobs: Any,
    ) -> None:
        if noising is not None and not isinstance(noising, NoisingConfig):
            raise TypeError(f"noising must be a NoisingConfig, got {type(noising).__name__}")
        self.noising = cfg = (noising or NoisingConfig()).replace(**knobs)
        self.tokenizer = tokenizer
        if return_tensors not in ("pt", "np"):
            raise ValueError(f"return_tensors must be 'pt' or 'np', got {return_tensors!r}")
        for name, value in (("pad_to_multiple_of", pad_to_multiple_of), ("max_length", max_length)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int or None, got {value!r}")
        self.max_length = max_length
        self.pad_to_multiple_of = pad_to_multiple_of
        self.return_tensors = return_tensors
        self.return_mlm_labels = return_mlm_labels
        self.sentence_ends_key = sentence_ends_key
        if cfg.needs_sentences and not sentence_ends_key:
            raise ValueError(
                "permute_sentences/gap_sentence_ratio need sentence boundaries from preprocessing: pass "
                "sentence_ends_key (features prepared with tokenize_for_denoising carry 'sentence_ends')"
            )

        missing = [name for name in ("bos_token", "eos_token", "pad_token") if getattr(tokenizer, name, None) is None]
        needs_mask = (cfg.mask > 0 and cfg.replace_length != 0) or cfg.insert > 0 or cfg.mlm_probability > 0
        if needs_mask and getattr(tokenizer, "mask_token", None) is None:
            missing.append("mask_token")
        if cfg.gap_sentence_ratio > 0 and cfg.gap_sentence_token is None and tokenizer.mask_token is None:
            missing.append("mask_token (or gap_sentence_token)")
        if missing:
            raise ValueError(
                f"DataCollatorForDenoising needs a tokenizer with {', '.join(missing)}; {type(tokenizer).__name__} "
                "has none. Train one with tobigs_transformer.data.train_bart_tokenizer."
            )
        self.bos_id = int(tokenizer.bos_token_id)
        self.eos_id = int(tokenizer.eos_token_id)
        self.pad_id = int(tokenizer.pad_token_id)
        self.mask_id = int(tokenizer.mask_token_id) if tokenizer.mask_token is not None else -1
        self.gap_id = self._gap_token_id(tokenizer, cfg)
        self.decoder_start_token_id = self.eos_id if decoder_start_token_id is None else int(decoder_start_token_id)

        vocab_size = len(tokenizer)
        self._special = np.zeros(max(vocab_size, self.mask_id + 1, self.gap_id + 1), dtype=bool)
        self._special[[i for i in tokenizer.all_special_ids if i is not None]] = True
        self._random_pool = np.flatnonzero(~self._special[:vocab_size]).astype(np.int64)
        if (cfg.mask_random > 0 or cfg.mlm_probability > 0) and self._random_pool.size == 0:
            raise ValueError("mask_random/mlm_probability > 0 need at least one non-special token in the vocabulary")
        table, self.word_scheme = word_start_table(tokenizer)
        word_units = self.word_scheme != "token" if cfg.word_units is None else cfg.word_units
        #: Units are whole words (the knob, or the tokenizer's marks when it is None; never with "subword").
        self.word_units = word_units and cfg.mask_length != "subword"
        # unit-start lookup: word starts in word mode; every non-special token in token mode
        if self.word_units:
            self._unit_lut = np.zeros(self._special.size, dtype=bool)
            self._unit_lut[:vocab_size] = table
        else:
            self._unit_lut = ~self._special

        self.seed = seed
        self._worker_seeded: int | None = None
        self.rng = np.random.default_rng(seed)

    def _gap_token_id(self, tokenizer: Any, cfg: NoisingConfig) -> int:
        """The id of [MASK1]: ``gap_sentence_token`` (which must be in the vocabulary) or the mask token's."""
        if cfg.gap_sentence_token is None:
            gap_id = self.mask_id
        elif cfg.gap_sentence_token not in tokenizer.get_vocab():
            raise ValueError(
                f"gap_sentence_token {cfg.gap_sentence_token!r} is not in the tokenizer's vocabulary; add it with "
                "tokenizer.add_special_tokens({'extra_special_tokens': [...]})"
            )
        else:
            gap_id = int(tokenizer.convert_tokens_to_ids(cfg.gap_sentence_token))
        if cfg.gap_sentence_ratio > 0 and cfg.mlm_probability > 0 and gap_id == self.mask_id:
            raise ValueError(
                "Pegasus gap sentences with MLM need two distinct mask tokens: gap_sentence_token "
                f"{cfg.gap_sentence_token or tokenizer.mask_token!r} is the tokenizer's mask token "
                f"{tokenizer.mask_token!r} (use e.g. '<mask_1>' for sentences)"
            )
        return gap_id

    # ------------------------------------------------------------------ presets
    @classmethod
    def bart_large(cls, tokenizer: Any, **kwargs: Any) -> DataCollatorForDenoising:
        """The collator of :meth:`NoisingConfig.bart_large`; knob keywords override its values."""
        return cls(tokenizer, NoisingConfig.bart_large(), **kwargs)

    @classmethod
    def pegasus(cls, tokenizer: Any, **kwargs: Any) -> DataCollatorForDenoising:
        """The collator of :meth:`NoisingConfig.pegasus`; knob keywords override its values."""
        return cls(tokenizer, NoisingConfig.pegasus(), **kwargs)

    # ------------------------------------------------------------------ call
    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        self._maybe_reseed_for_worker()
        if len(features) == 0:
            raise ValueError("DataCollatorForDenoising got an empty batch (0 features); need at least 1")
        sources, targets, mlm_labels = [], [], []
        for index, feature in enumerate(features):
            ids, ends = self._read_feature(feature, index)
            source, target, selected = self._corrupt(ids, ends)
            sources.append(source)
            targets.append(target)
            mlm_labels.append(selected)
        return self._pad(sources, targets, mlm_labels if self.return_mlm_labels else None)

    def noise(self, input_ids: np.ndarray, sentence_ends: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Corrupt one ``<s> … </s>`` sequence; returns ``(source, target)`` as int64 arrays."""
        source, target, _ = self._corrupt(input_ids, sentence_ends)
        return source, target

    def _corrupt(self, input_ids, sentence_ends=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(source, target, mlm_labels)``: ``mlm_labels`` is aligned with ``source`` (-100 where MLM chose nothing)."""
        rng, cfg = self.rng, self.noising
        ids = np.asarray(input_ids, dtype=np.int64)
        content = ids[1:-1]
        n = content.size
        target = ids
        starts = None  # sentence starts in content coordinates
        if sentence_ends is not None and n > 0:
            ends = np.asarray(sentence_ends, dtype=np.int64) - 1
            starts = np.concatenate(([0], ends[:-1]))
            if cfg.gap_sentence_ratio > 0:
                content, starts, target = self._gap_sentences(content, starts, ends)
                n = content.size
            elif cfg.permute_sentences > 0 and starts.size > 1:
                content, starts = self._permute(content, starts, ends, rng)

        if cfg.mask > 0 and n > 0:
            content = self._mask_units(content, starts, rng)
        if cfg.insert > 0 and content.size > 0:
            content = self._insert(content, math.ceil(content.size * cfg.insert), rng)
        if cfg.rotate > 0 and content.size > 1 and rng.random() < cfg.rotate:
            content = np.roll(content, -int(rng.integers(content.size)))
        selected = np.full(content.size, -100, dtype=np.int64)
        if cfg.mlm_probability > 0 and content.size > 0:
            content, selected = self._mask_tokens(content, rng)
        source = np.empty(content.size + 2, dtype=np.int64)
        source[0], source[1:-1], source[-1] = self.bos_id, content, self.eos_id
        return source, target, np.concatenate(([-100], selected, [-100]))

    # ------------------------------------------------------------------ transforms
    def _permute(self, content, starts, ends, rng):
        k = starts.size
        num = math.ceil(k * self.noising.permute_sentences)
        order = np.arange(k)
        chosen = rng.permutation(k)[:num]
        order[chosen] = chosen[rng.permutation(num)]
        lengths = ends - starts
        new_lengths = lengths[order]
        new_starts = np.concatenate(([0], np.cumsum(new_lengths)[:-1]))
        index = np.repeat(starts[order] - new_starts, new_lengths) + np.arange(content.size)
        return content[index], new_starts

    def _gap_sentences(self, content, starts, ends):
        """Pegasus GSG, Ind-Orig: score each sentence by ROUGE-1 F1 (token ids, with multiplicity) against the rest."""
        k = starts.size
        m = int(math.floor(self.noising.gap_sentence_ratio * k + 0.5))
        if m == 0:
            return content, starts, np.concatenate(([self.bos_id], [self.eos_id]))
        _, inverse = np.unique(content, return_inverse=True)
        sentence_of = np.repeat(np.arange(k), ends - starts)
        counts = np.zeros((k, inverse.max() + 1), dtype=np.int64)
        np.add.at(counts, (sentence_of, inverse), 1)
        rest = counts.sum(0, keepdims=True) - counts
        overlap = np.minimum(counts, rest).sum(1).astype(np.float64)
        len_s, len_r = counts.sum(1), rest.sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(len_s > 0, overlap / np.maximum(len_s, 1), 0.0)
            recall = np.where(len_r > 0, overlap / np.maximum(len_r, 1), 0.0)
            f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        selected = np.sort(np.argsort(-f1, kind="stable")[:m])
        is_gap = np.zeros(k, dtype=bool)
        is_gap[selected] = True
        gap_tokens = is_gap[sentence_of]
        target = np.concatenate(([self.bos_id], content[gap_tokens], [self.eos_id]))
        # input: kept sentences, each selected sentence replaced by one gap token
        keep = ~gap_tokens
        keep[starts[selected]] = True
        new_content = content.copy()
        new_content[starts[selected]] = self.gap_id
        new_content = new_content[keep]
        new_lengths = np.where(is_gap, 1, ends - starts)
        new_starts = np.concatenate(([0], np.cumsum(new_lengths)[:-1]))
        return new_content, new_starts[~is_gap], target

    def _mask_tokens(self, content, rng):
        """Pegasus MLM (BERT's rule) on the source: each ordinary token is selected with ``mlm_probability``; a
        selected token becomes the mask token ([MASK2]) with p = 0.8, a random token with p = 0.1, else stays."""
        eligible = ~self._special[content] & (content != self.gap_id)
        selected = eligible & (rng.random(content.size) < self.noising.mlm_probability)
        labels = np.where(selected, content, -100)
        draw = rng.random(content.size)
        out = content.copy()
        out[selected & (draw < 0.8)] = self.mask_id
        random = selected & (draw >= 0.8) & (draw < 0.9)
        out[random] = self._random_pool[rng.integers(self._random_pool.size, size=int(random.sum()))]
        return out, labels

    def _mask_units(self, content, sentence_starts, rng):
        n = content.size
        is_unit = self._unit_lut[content]
        special = self._special[content]
        if self.word_units:
            is_unit[0] = not special[0]
            if sentence_starts is not None:
                is_unit[sentence_starts[sentence_starts < n]] = True
                is_unit &= ~special
        unit_pos = np.flatnonzero(is_unit)
        n_units = unit_pos.size
        if n_units == 0:
            return content
        budget = math.ceil(n_units * self.noising.mask)
        if budget == 0:
            return content
        num_inserts = 0
        if self.noising.mask_length == "span-poisson":
            raw = sample_span_lengths(budget, rng, self.noising.poisson_lambda)
            lengths = raw.copy()
            lengths[-1] = budget - (raw[:-1].sum() if raw.size > 1 else 0)
            num_inserts = int(np.count_nonzero(lengths == 0))
            lengths = lengths[lengths > 0]
            rng.shuffle(lengths)
        else:
            lengths = np.ones(budget, dtype=np.int64)
        m = lengths.size
        free = n_units - budget
        min_gap = 1 if free >= m - 1 else 0
        spare = free - min_gap * (m - 1)
        # stars and bars: uniform over the arrangements of m ordered spans with at least min_gap units between them
        slots = np.sort(rng.permutation(spare + m)[:m])
        free_before = slots - np.arange(m)
        first_unit = free_before + np.concatenate(([0], np.cumsum(lengths)[:-1])) + min_gap * np.arange(m)
        last_unit = first_unit + lengths - 1
        # a unit runs from its start to the next unit start or special token
        span_start = unit_pos[first_unit]
        unit_end = np.empty(n_units + 1, dtype=np.int64)
        unit_end[:-1], unit_end[-1] = unit_pos, n
        if special.any():
            boundary = np.flatnonzero(is_unit | special)
            end_index = np.searchsorted(boundary, unit_pos[last_unit], side="right")
            span_end = np.append(boundary, n)[end_index]
        else:  # common case: the next unit start ends the span
            span_end = unit_end[last_unit + 1]

        delta = np.zeros(n + 1, dtype=np.int64)
        delta[span_start] += 1
        delta[span_end] -= 1
        covered = np.cumsum(delta[:-1]) > 0
        out = content.copy()
        if self.noising.replace_length == 0:
            out = out[~covered]
        elif self.noising.replace_length == 1:
            out[span_start] = self._replacements(m, rng)
            keep = ~covered
            keep[span_start] = True
            out = out[keep]
        else:
            positions = np.flatnonzero(covered)
            out[positions] = self._replacements(positions.size, rng)
        if num_inserts > 0:
            out = self._insert(out, num_inserts, rng)
        return out

    def _replacements(self, count, rng):
        values = np.full(count, self.mask_id, dtype=np.int64)
        if self.noising.mask_random > 0 and count > 0:
            is_random = rng.random(count) < self.noising.mask_random
            n_random = int(is_random.sum())
            if n_random:
                values[is_random] = self._random_pool[rng.integers(self._random_pool.size, size=n_random)]
        return values

    def _insert(self, content, count, rng):
        total = content.size + count
        positions = rng.choice(total, size=count, replace=False)
        is_new = np.zeros(total, dtype=bool)
        is_new[positions] = True
        out = np.empty(total, dtype=np.int64)
        out[~is_new] = content
        out[is_new] = self._replacements(count, rng)
        return out

    # ------------------------------------------------------------------ plumbing
    def _maybe_reseed_for_worker(self) -> None:
        if self.seed is None:
            return
        try:
            from torch.utils.data import get_worker_info
        except ImportError:  # pragma: no cover
            return
        info = get_worker_info()
        if info is not None and self._worker_seeded != info.id:
            self.rng = np.random.default_rng([self.seed, info.id])
            self._worker_seeded = info.id

    def _read_feature(self, feature: Mapping[str, Any], index: int):
        if not isinstance(feature, Mapping) or "input_ids" not in feature:
            raise ValueError(f"feature {index} must be a dict with 'input_ids', got {type(feature).__name__}")
        raw = feature["input_ids"]
        ids = np.fromiter(raw, dtype=np.int64, count=len(raw)) if isinstance(raw, list) else np.asarray(
            _to_list(raw), dtype=np.int64
        )
        if ids.ndim != 1:
            raise ValueError(f"feature {index}: input_ids must be 1-D, got shape {ids.shape}")
        if self.max_length is not None and ids.size > self.max_length:
            raise ValueError(f"feature {index}: {ids.size} input ids exceed max_length={self.max_length}")
        if "attention_mask" in feature:
            length = int(np.asarray(_to_list(feature["attention_mask"])).sum())
            ids = ids[:length]
        if ids.size < 2 or ids[0] != self.bos_id or ids[-1] != self.eos_id:
            raise ValueError(
                f"feature {index}: input_ids must start with bos={self.bos_id} and end with eos={self.eos_id}, got "
                f"{ids[:3].tolist()}...{ids[-3:].tolist()} (tokenize with tokenize_for_denoising or add_special_tokens)"
            )
        if ids.min() < 0 or ids.max() >= self._special.size:
            raise ValueError(
                f"feature {index}: input_ids must be in [0, {self._special.size}) for this tokenizer, got "
                f"min={ids.min()}, max={ids.max()}"
            )
        ends = None
        if self.noising.needs_sentences:
            if self.sentence_ends_key not in feature or feature[self.sentence_ends_key] is None:
                raise ValueError(
                    f"feature {index} has no '{self.sentence_ends_key}' but permute_sentences="
                    f"{self.noising.permute_sentences}/gap_sentence_ratio={self.noising.gap_sentence_ratio} need sentence boundaries; "
                    "prepare documents as lists of sentences with tokenize_for_denoising"
                )
            ends = np.asarray(_to_list(feature[self.sentence_ends_key]), dtype=np.int64).reshape(-1)
            last = ids.size - 1
            if ids.size > 2:
                if ends.size == 0 or ends[-1] < last:
                    ends = np.append(ends, last)
                if ends[0] < 2 or np.any(np.diff(ends) <= 0) or ends[-1] != last:
                    raise ValueError(
                        f"feature {index}: {self.sentence_ends_key} must be strictly increasing positions in "
                        f"[2, {last}] ending at {last} (before </s>), got {ends.tolist()[:10]}"
                    )
            else:
                ends = None
        return ids, ends

    def _pad(self, sources: list[np.ndarray], targets: list[np.ndarray],
             mlm_labels: list[np.ndarray] | None = None) -> dict[str, Any]:
        batch = len(sources)
        src_len = _round_up(max(s.size for s in sources), self.pad_to_multiple_of)
        tgt_len = _round_up(max(t.size for t in targets), self.pad_to_multiple_of)
        input_ids = np.full((batch, src_len), self.pad_id, dtype=np.int64)
        attention_mask = np.zeros((batch, src_len), dtype=np.int64)
        labels = np.full((batch, tgt_len), -100, dtype=np.int64)
        for row, (s, t) in enumerate(zip(sources, targets)):
            input_ids[row, : s.size] = s
            attention_mask[row, : s.size] = 1
            labels[row, : t.size] = t
        decoder_input_ids = np.empty_like(labels)
        decoder_input_ids[:, 0] = self.decoder_start_token_id
        decoder_input_ids[:, 1:] = labels[:, :-1]
        decoder_input_ids[decoder_input_ids == -100] = self.pad_id
        out = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": labels,
            "decoder_input_ids": decoder_input_ids,
        }
        if mlm_labels is not None:
            out["mlm_labels"] = np.full((batch, src_len), -100, dtype=np.int64)
            for row, selected in enumerate(mlm_labels):
                out["mlm_labels"][row, : selected.size] = selected
        if self.return_tensors == "pt":
            import torch

            out = {k: torch.from_numpy(v) for k, v in out.items()}
        return out


def _round_up(length: int, multiple: int | None) -> int:
    if multiple:
        return ((length + multiple - 1) // multiple) * multiple
    return length


def _to_list(value: Any) -> Iterable:
    if hasattr(value, "tolist"):
        return value.tolist()
    return value
