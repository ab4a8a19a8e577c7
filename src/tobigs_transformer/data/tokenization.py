"""Subword tokenizers for the four families of the lecture, trained with the ``tokenizers`` library.

* GPT (Radford et al. 2018/2019): byte-level BPE — every byte is in the base alphabet, so any text (Hangul included)
  encodes without ``<unk>`` and decodes back exactly.  A distinct ``<pad>`` (not the end-of-text token) keeps causal
  LM labels intact; ``padding_side="left"`` for batched generation.
* BERT (Devlin et al. 2019): WordPiece with ``[CLS] A [SEP] B [SEP]``, ``token_type_ids`` and ``[MASK]``.
* BART (Lewis et al. 2019): byte-level BPE with ``<s> A </s>`` and BART's id layout ``<s>=0 <pad>=1 </s>=2 <unk>=3``
  then ``<mask>``.
* Translation (Vaswani et al. 2017 §5.1: "a shared source-target vocabulary"): one Unigram (or BPE) model trained on
  both languages, ``$A </s>`` template, so ``tok(src, text_target=tgt)`` gives ``labels``.

Unicode normalisation: **NFC** everywhere (or none for byte-level BPE, which is lossless on bytes).  NFC composes
Hangul jamo into syllables and leaves precomposed syllables untouched, so ``투빅아, 나는 너를 많이 사랑해.`` round-trips;
NFKC would also fold compatibility characters (full-width forms, ``ℌ``, ``①``) and NFD — which BERT's
``strip_accents`` applies — would decompose every Hangul syllable into jamo.  Hence the WordPiece normaliser never
strips accents and lowercases only on request.

Every ``train_*`` function takes an iterable of texts and returns a ``transformers.PreTrainedTokenizerFast`` that
``save_pretrained`` writes and ``AutoTokenizer.from_pretrained`` reloads.  A corpus without a single non-blank text
raises ``ValueError`` naming the input (pass ``source=`` — e.g. the file names — to have it named).

Reproducibility: the same texts give byte-identical tokenizer files in every process, whatever ``PYTHONHASHSEED``,
``TOKENIZERS_PARALLELISM`` or ``RAYON_NUM_THREADS``.  The ``tokenizers`` trainers iterate Rust hash maps whose keys
are seeded at random per process, which leaks into two places:

* WordPiece (BPE trainer with ``##``): the ``##x`` continuation tokens get their ids in hash order, and equal-count
  merges are tie-broken by id, so the vocabulary itself changed (huggingface/tokenizers#1794).  We give those tokens
  fixed ids up front (sorted, right after the specials), so every merge decision is the same in every process.
* Unigram: expected counts are summed over words in hash order (scores differ by up to ~4e-11) and required
  characters the model dropped get ``min_score + k·1e-4`` in hash order.  We give those characters the minimum score,
  round every score to :data:`UNIGRAM_SCORE_DECIMALS` decimals and sort pieces by (score, piece).  The residual
  risk — a score within 4e-11 of a rounding boundary — is about 6e-5 per pair of trainings (measured on the demo's
  Bible corpus; ``docs/reliability.md``).

Byte-level BPE (GPT, BART, ``translation`` with ``model="bpe"``) is deterministic as the library ships it: its
alphabet is sorted and ties between merges are broken by (deterministic) ids.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast
from transformers.utils import logging


logger = logging.get_logger(__name__)

__all__ = [
    "TOKENIZER_KINDS",
    "UNIGRAM_SCORE_DECIMALS",
    "train_bart_tokenizer",
    "train_gpt_tokenizer",
    "train_tokenizer",
    "train_translation_tokenizer",
    "train_wordpiece_tokenizer",
]

TOKENIZER_KINDS = ("gpt", "bart", "wordpiece", "translation")
BART_SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
BERT_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
GPT_SPECIAL_TOKENS = ["<|endoftext|>", "<pad>"]
#: Unigram scores (log-probabilities) are rounded to this many decimals: the quantum 1e-5 is 250 000 times the
#: trainer's hash-order noise (<= 4e-11), and re-segmenting 41k Bible texts changed no segmentation (measured).
UNIGRAM_SCORE_DECIMALS = 5
# The Unigram trainer gives required characters missing from the model min_score + k * 1e-4 (k in hash order).
_UNIGRAM_PENALTY_STEP = 1e-4
_UNIGRAM_BAND_TOLERANCE = 1e-9


def _check_common(vocab_size: int, min_frequency: int, minimum: int) -> None:
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < minimum:
        raise ValueError(f"vocab_size must be an int >= {minimum} for this tokenizer, got {vocab_size!r}")
    if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 0:
        raise ValueError(f"min_frequency must be an int >= 0, got {min_frequency!r}")


class _CountedTexts:
    """Iterates the non-empty strings of ``texts`` once, counting what it saw, so that an empty or blank corpus can be
    reported after a streaming trainer consumed it (byte-level BPE never holds the corpus in memory)."""

    def __init__(self, texts: Iterable[str] | str) -> None:
        if isinstance(texts, str):
            raise TypeError("texts must be an iterable of strings, not one string (wrap it in a list)")
        if not isinstance(texts, Iterable):
            raise TypeError(f"texts must be an iterable of strings, got {type(texts).__name__}")
        self.texts = texts
        self.seen = 0
        self.non_blank = 0

    def __iter__(self) -> Iterator[str]:
        for index, text in enumerate(self.texts):
            if not isinstance(text, str):
                raise TypeError(f"texts must yield strings; item {index} is a {type(text).__name__}: {text!r:.60}")
            self.seen += 1
            if text.strip():
                self.non_blank += 1
            if text:
                yield text

    def require_text(self, what: str, source: str | None) -> None:
        """Raise when nothing but empty or whitespace-only texts came through (the trainers would silently return a
        tokenizer of specials and bytes only)."""
        if self.non_blank:
            return
        where = source or "texts"
        found = "yielded no text at all" if self.seen == 0 else (
            f"yielded {self.seen} text{'s' if self.seen != 1 else ''}, all empty or whitespace-only"
        )
        raise ValueError(
            f"cannot train the {what} tokenizer: {where} {found}; at least 1 text with a non-whitespace character is "
            "needed (check the file(s) and --text_column)"
        )


def _finish(tokenizer: PreTrainedTokenizerFast, save_dir: str | os.PathLike | None) -> PreTrainedTokenizerFast:
    if save_dir is not None:
        os.makedirs(save_dir, exist_ok=True)
        tokenizer.save_pretrained(save_dir)
        logger.info("saved tokenizer to %s", save_dir)
    return tokenizer


def _byte_level_bpe(texts, vocab_size, min_frequency, special_tokens, what, source) -> Tokenizer:
    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    counted = _CountedTexts(texts)
    backend.train_from_iterator(counted, trainer=trainer)
    counted.require_text(what, source)
    return backend


def train_gpt_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 8000,
    min_frequency: int = 2,
    save_dir: str | os.PathLike | None = None,
    padding_side: str = "left",
    source: str | None = None,
) -> PreTrainedTokenizerFast:
    """GPT-2-style byte-level BPE.  ``<|endoftext|>`` (id 0) is bos/eos, ``<pad>`` (id 1) is a distinct pad token, so a
    causal-LM collator that masks pad labels never masks a real end-of-text.  No template: GPT adds no specials.
    ``padding_side="left"`` keeps the last prompt token next to the generated ones in batched ``generate``.
    ``source`` names the input in error messages (e.g. the file names)."""
    _check_common(vocab_size, min_frequency, 256 + len(GPT_SPECIAL_TOKENS))
    backend = _byte_level_bpe(texts, vocab_size, min_frequency, GPT_SPECIAL_TOKENS, "gpt (byte-level BPE)", source)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token=None,
        pad_token="<pad>",
        padding_side=padding_side,
        clean_up_tokenization_spaces=False,
        model_input_names=["input_ids", "attention_mask"],
    )
    return _finish(tokenizer, save_dir)


def train_bart_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 8000,
    min_frequency: int = 2,
    save_dir: str | os.PathLike | None = None,
    source: str | None = None,
) -> PreTrainedTokenizerFast:
    """BART-style byte-level BPE: ``<s>=0, <pad>=1, </s>=2, <unk>=3, <mask>=4``, single ``<s> $A </s>``, pair
    ``<s> $A </s> </s> $B </s>``; ``<mask>`` swallows the space before it (``lstrip``) as in BART."""
    _check_common(vocab_size, min_frequency, 256 + len(BART_SPECIAL_TOKENS))
    backend = _byte_level_bpe(texts, vocab_size, min_frequency, BART_SPECIAL_TOKENS, "bart (byte-level BPE)", source)
    bos, eos = backend.token_to_id("<s>"), backend.token_to_id("</s>")
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token=AddedToken("<mask>", lstrip=True, rstrip=False, special=True),
        clean_up_tokenization_spaces=False,
        model_input_names=["input_ids", "attention_mask"],
    )
    return _finish(tokenizer, save_dir)


def _wordpiece_backend(lowercase: bool, vocab: dict[str, int] | None = None) -> Tokenizer:
    backend = Tokenizer(
        models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100, continuing_subword_prefix="##")
    )
    backend.normalizer = normalizers.Sequence(
        [
            normalizers.NFC(),
            normalizers.BertNormalizer(
                clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=lowercase
            ),
        ]
    )
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    return backend


def _continuation_tokens(backend: Tokenizer, texts: list[str]) -> list[str]:
    """``##x`` for every character x that occurs after the first position of a pre-tokenized word — exactly the tokens
    the BPE trainer would create lazily, in hash order — sorted by code point."""
    chars: set[str] = set()
    for text in dict.fromkeys(texts):  # each distinct text once
        for word, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(text)):
            chars.update(word[1:])
    return ["##" + c for c in sorted(chars)]


def train_wordpiece_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 8000,
    min_frequency: int = 2,
    save_dir: str | os.PathLike | None = None,
    lowercase: bool = False,
    source: str | None = None,
) -> PreTrainedTokenizerFast:
    """BERT-style WordPiece: ``[PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4``, ``[CLS] A [SEP] B [SEP]`` with
    ``token_type_ids`` 0 for ``[CLS] A [SEP]`` and 1 for ``B [SEP]``.

    Normaliser: NFC, then BERT's cleaning without accent stripping (which would NFD-decompose Hangul); lowercasing
    only when ``lowercase=True`` (the cased default round-trips text).  Decoding joins ``##`` pieces and removes the
    space before ``. , ! ?`` and English contractions; text with spaces around other punctuation (``a (b)``) does not
    decode byte-exactly because BERT's pre-tokeniser drops that whitespace information.

    The ``##x`` continuation characters take the ids right after the specials, in code-point order (the library would
    number them in a per-process random order and break merge ties by those ids).  The texts are held in memory once
    (a first pass finds those characters).
    """
    _check_common(vocab_size, min_frequency, len(BERT_SPECIAL_TOKENS) + 1)
    counted = _CountedTexts(texts)
    corpus = list(counted)
    counted.require_text("wordpiece", source)
    backend = _wordpiece_backend(lowercase)
    # Registering the continuation tokens as trainer specials fixes their ids before training; the trained vocabulary
    # is then moved into a fresh backend so that only the five real specials are added tokens.
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=BERT_SPECIAL_TOKENS + _continuation_tokens(backend, corpus),
        continuing_subword_prefix="##",
        show_progress=False,
    )
    backend.train_from_iterator(corpus, trainer=trainer)
    backend = _wordpiece_backend(lowercase, vocab=json.loads(backend.to_str())["model"]["vocab"])
    backend.add_special_tokens(BERT_SPECIAL_TOKENS)
    cls_id, sep_id = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        clean_up_tokenization_spaces=False,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )
    return _finish(tokenizer, save_dir)


def _unigram_floor_band(pieces: list[tuple[str, float]], floor: float) -> set[str]:
    """Single characters whose score is ``floor + k * 1e-4`` for k = 0, 1, 2, … without a gap: the required
    characters the trainer added with a hash-ordered penalty (plus real characters sitting at the floor)."""
    hits: dict[int, list[str]] = {}
    for piece, score in pieces:
        if len(piece) != 1:
            continue
        k = round((score - floor) / _UNIGRAM_PENALTY_STEP)
        if k >= 0 and abs(score - (floor + k * _UNIGRAM_PENALTY_STEP)) <= _UNIGRAM_BAND_TOLERANCE:
            hits.setdefault(k, []).append(piece)
    band: set[str] = set()
    k = 0
    while k in hits:
        band.update(hits[k])
        k += 1
    return band


def _canonical_unigram(backend: Tokenizer, special_tokens: list[str]) -> None:
    """Replace the trained Unigram model by its canonical form (see the module docstring): specials first as trained,
    floor-band characters at the floor score, every score rounded, pieces sorted by (-score, piece)."""
    model = json.loads(backend.to_str())["model"]
    vocab = [(piece, float(score)) for piece, score in model["vocab"]]
    head, pieces = vocab[: len(special_tokens)], vocab[len(special_tokens) :]
    if [piece for piece, _ in head] != special_tokens:  # pragma: no cover - guards a change in the library's layout
        raise RuntimeError(f"unexpected Unigram layout: first pieces {head} are not the specials {special_tokens}")
    if pieces:
        floor = min(score for _, score in pieces)
        band = _unigram_floor_band(pieces, floor)
        pieces = [(p, round(floor if p in band else s, UNIGRAM_SCORE_DECIMALS)) for p, s in pieces]
        pieces.sort(key=lambda item: (-item[1], item[0]))
    backend.model = models.Unigram(
        head + pieces, unk_id=model["unk_id"], byte_fallback=model.get("byte_fallback", False)
    )


def _distinct_characters(backend: Tokenizer, texts: list[str]) -> int:
    chars: set[str] = set()
    for text in dict.fromkeys(texts):
        for word, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(text)):
            chars.update(word)
    return len(chars)


def train_translation_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 8000,
    min_frequency: int = 2,
    save_dir: str | os.PathLike | None = None,
    model: str = "unigram",
    source: str | None = None,
) -> PreTrainedTokenizerFast:
    """One shared source/target vocabulary (Vaswani et al. §5.1) over texts of both languages.

    ``model="unigram"`` (SentencePiece-style, Kudo 2018) with ``▁`` marking spaces, or ``model="bpe"`` (byte-level).
    Specials follow BART's layout (``<s>=0 <pad>=1 </s>=2 <unk>=3 <mask>=4``); every sequence is ``$A </s>`` (Marian
    style), so ``tok(src, text_target=tgt)`` returns ``labels`` ending in ``</s>`` and the decoder starts from
    ``<s>`` (``decoder_start_token_id = bos``).  NFC normalisation, so Korean round-trips.  Unigram scores are put in
    a canonical form (rounded to :data:`UNIGRAM_SCORE_DECIMALS` decimals, ties ordered by piece) so that every
    process writes the same file.
    """
    if model not in ("unigram", "bpe"):
        raise ValueError(f"model must be 'unigram' or 'bpe', got {model!r}")
    if model == "bpe":
        _check_common(vocab_size, min_frequency, 256 + len(BART_SPECIAL_TOKENS))
        backend = _byte_level_bpe(
            texts, vocab_size, min_frequency, BART_SPECIAL_TOKENS, "translation (byte-level BPE)", source
        )
    else:
        _check_common(vocab_size, min_frequency, len(BART_SPECIAL_TOKENS) + 1)
        counted = _CountedTexts(texts)
        corpus = list(counted)
        counted.require_text("translation (unigram)", source)
        backend = Tokenizer(models.Unigram())
        backend.normalizer = normalizers.NFC()
        backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
        backend.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size,
            special_tokens=BART_SPECIAL_TOKENS,
            unk_token="<unk>",
            shrinking_factor=0.75,
            max_piece_length=16,
            show_progress=False,
        )
        try:
            backend.train_from_iterator(corpus, trainer=trainer)
        except Exception as exc:  # the Rust trainer raises a bare Exception
            if "not large enough" in str(exc):
                chars = _distinct_characters(backend, corpus)
                raise ValueError(
                    f"vocab_size={vocab_size} is smaller than the {chars} distinct characters of "
                    f"{source or 'the texts'}, which Unigram keeps as pieces; raise vocab_size to at least {chars}"
                ) from exc
            raise
        _canonical_unigram(backend, BART_SPECIAL_TOKENS)
    eos = backend.token_to_id("</s>")
    backend.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        clean_up_tokenization_spaces=False,
        model_input_names=["input_ids", "attention_mask"],
    )
    return _finish(tokenizer, save_dir)


_TRAINERS = {
    "gpt": train_gpt_tokenizer,
    "bart": train_bart_tokenizer,
    "wordpiece": train_wordpiece_tokenizer,
    "translation": train_translation_tokenizer,
}


def train_tokenizer(
    kind: str,
    texts: Iterable[str],
    vocab_size: int = 8000,
    min_frequency: int = 2,
    save_dir: str | os.PathLike | None = None,
    source: str | None = None,
    **kwargs: Any,
) -> PreTrainedTokenizerFast:
    """Dispatch on ``kind`` (one of :data:`TOKENIZER_KINDS`: ``gpt``, ``bart``, ``wordpiece``, ``translation``).
    ``source`` names the input (e.g. ``"train.txt, extra.jsonl"``) in the error raised for an empty or blank corpus."""
    if kind not in _TRAINERS:
        raise ValueError(f"kind must be one of {TOKENIZER_KINDS}, got {kind!r}")
    return _TRAINERS[kind](
        texts, vocab_size=vocab_size, min_frequency=min_frequency, save_dir=save_dir, source=source, **kwargs
    )
