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
``save_pretrained`` writes and ``AutoTokenizer.from_pretrained`` reloads.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast
from transformers.utils import logging


logger = logging.get_logger(__name__)

__all__ = [
    "TOKENIZER_KINDS",
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


def _check_common(vocab_size: int, min_frequency: int, minimum: int) -> None:
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < minimum:
        raise ValueError(f"vocab_size must be an int >= {minimum} for this tokenizer, got {vocab_size!r}")
    if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 0:
        raise ValueError(f"min_frequency must be an int >= 0, got {min_frequency!r}")


def _text_iterator(texts: Iterable[str] | str) -> Iterator[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of strings, not one string (wrap it in a list)")
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"texts must yield strings, got {type(text).__name__}")
        if text:
            yield text


def _finish(tokenizer: PreTrainedTokenizerFast, save_dir: str | os.PathLike | None) -> PreTrainedTokenizerFast:
    if save_dir is not None:
        os.makedirs(save_dir, exist_ok=True)
        tokenizer.save_pretrained(save_dir)
        logger.info("saved tokenizer to %s", save_dir)
    return tokenizer


def _byte_level_bpe(texts, vocab_size, min_frequency, special_tokens) -> Tokenizer:
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
    backend.train_from_iterator(_text_iterator(texts), trainer=trainer)
    return backend


def train_gpt_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 8000,
    min_frequency: int = 2,
    save_dir: str | os.PathLike | None = None,
    padding_side: str = "left",
) -> PreTrainedTokenizerFast:
    """GPT-2-style byte-level BPE.  ``<|endoftext|>`` (id 0) is bos/eos, ``<pad>`` (id 1) is a distinct pad token, so a
    causal-LM collator that masks pad labels never masks a real end-of-text.  No template: GPT adds no specials.
    ``padding_side="left"`` keeps the last prompt token next to the generated ones in batched ``generate``."""
    _check_common(vocab_size, min_frequency, 256 + len(GPT_SPECIAL_TOKENS))
    backend = _byte_level_bpe(texts, vocab_size, min_frequency, GPT_SPECIAL_TOKENS)
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
) -> PreTrainedTokenizerFast:
    """BART-style byte-level BPE: ``<s>=0, <pad>=1, </s>=2, <unk>=3, <mask>=4``, single ``<s> $A </s>``, pair
    ``<s> $A </s> </s> $B </s>``; ``<mask>`` swallows the space before it (``lstrip``) as in BART."""
    _check_common(vocab_size, min_frequency, 256 + len(BART_SPECIAL_TOKENS))
    backend = _byte_level_bpe(texts, vocab_size, min_frequency, BART_SPECIAL_TOKENS)
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


def train_wordpiece_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 8000,
    min_frequency: int = 2,
    save_dir: str | os.PathLike | None = None,
    lowercase: bool = False,
) -> PreTrainedTokenizerFast:
    """BERT-style WordPiece: ``[PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4``, ``[CLS] A [SEP] B [SEP]`` with
    ``token_type_ids`` 0 for ``[CLS] A [SEP]`` and 1 for ``B [SEP]``.

    Normaliser: NFC, then BERT's cleaning without accent stripping (which would NFD-decompose Hangul); lowercasing
    only when ``lowercase=True`` (the cased default round-trips text).  Decoding joins ``##`` pieces and removes the
    space before ``. , ! ?`` and English contractions; text with spaces around other punctuation (``a (b)``) does not
    decode byte-exactly because BERT's pre-tokeniser drops that whitespace information.
    """
    _check_common(vocab_size, min_frequency, len(BERT_SPECIAL_TOKENS) + 1)
    backend = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
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
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=BERT_SPECIAL_TOKENS,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    backend.train_from_iterator(_text_iterator(texts), trainer=trainer)
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


def train_translation_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 8000,
    min_frequency: int = 2,
    save_dir: str | os.PathLike | None = None,
    model: str = "unigram",
) -> PreTrainedTokenizerFast:
    """One shared source/target vocabulary (Vaswani et al. §5.1) over texts of both languages.

    ``model="unigram"`` (SentencePiece-style, Kudo 2018) with ``▁`` marking spaces, or ``model="bpe"`` (byte-level).
    Specials follow BART's layout (``<s>=0 <pad>=1 </s>=2 <unk>=3 <mask>=4``); every sequence is ``$A </s>`` (Marian
    style), so ``tok(src, text_target=tgt)`` returns ``labels`` ending in ``</s>`` and the decoder starts from
    ``<s>`` (``decoder_start_token_id = bos``).  NFC normalisation, so Korean round-trips.
    """
    if model not in ("unigram", "bpe"):
        raise ValueError(f"model must be 'unigram' or 'bpe', got {model!r}")
    if model == "bpe":
        _check_common(vocab_size, min_frequency, 256 + len(BART_SPECIAL_TOKENS))
        backend = _byte_level_bpe(texts, vocab_size, min_frequency, BART_SPECIAL_TOKENS)
    else:
        _check_common(vocab_size, min_frequency, len(BART_SPECIAL_TOKENS) + 1)
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
            backend.train_from_iterator(_text_iterator(texts), trainer=trainer)
        except Exception as exc:  # the Rust trainer raises a bare Exception
            if "not large enough" in str(exc):
                raise ValueError(
                    f"vocab_size={vocab_size} is smaller than the number of distinct characters in the texts "
                    "(Unigram keeps every character); raise vocab_size"
                ) from exc
            raise
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
    **kwargs: Any,
) -> PreTrainedTokenizerFast:
    """Dispatch on ``kind`` (one of :data:`TOKENIZER_KINDS`: ``gpt``, ``bart``, ``wordpiece``, ``translation``)."""
    if kind not in _TRAINERS:
        raise ValueError(f"kind must be one of {TOKENIZER_KINDS}, got {kind!r}")
    return _TRAINERS[kind](texts, vocab_size=vocab_size, min_frequency=min_frequency, save_dir=save_dir, **kwargs)
