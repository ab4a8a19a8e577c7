"""Shared fixtures for the data tests: tiny tokenizers trained in seconds on text the tests own."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest


try:  # run from a checkout without `pip install -e .`
    import tobigs_transformer.data  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

FIXTURES = Path(__file__).parents[1] / "fixtures"
KO = "투빅아, 나는 너를 많이 사랑해."
EN = "Tobigs, I love you so much."


def fixture_texts() -> list[str]:
    pairs = [json.loads(line) for line in (FIXTURES / "ko_en_pairs.jsonl").read_text(encoding="utf-8").splitlines()]
    docs = (FIXTURES / "english_documents.txt").read_text(encoding="utf-8").splitlines()
    return [p["ko"] for p in pairs] + [p["en"] for p in pairs] + docs


def fixture_documents() -> list[list[str]]:
    """Each line of english_documents.txt is a document; sentences split at '. ' during preprocessing."""
    docs = []
    for line in (FIXTURES / "english_documents.txt").read_text(encoding="utf-8").splitlines():
        parts = [s.strip() for s in line.split(". ")]
        docs.append([p if p.endswith(".") else p + "." for p in parts if p])
    return docs


@pytest.fixture(scope="session")
def texts() -> list[str]:
    return fixture_texts() * 3


@pytest.fixture(scope="session")
def bart_tokenizer(texts):
    from tobigs_transformer.data import train_bart_tokenizer

    return train_bart_tokenizer(texts, vocab_size=600, min_frequency=1)


@pytest.fixture(scope="session")
def wordpiece_tokenizer(texts):
    from tobigs_transformer.data import train_wordpiece_tokenizer

    return train_wordpiece_tokenizer(texts, vocab_size=600, min_frequency=1)


@pytest.fixture(scope="session")
def gpt_tokenizer(texts):
    from tobigs_transformer.data import train_gpt_tokenizer

    return train_gpt_tokenizer(texts, vocab_size=600, min_frequency=1)


def make_word_level_tokenizer(n_words: int, specials: str = "bart", word_start_marks: bool = False):
    """A WordLevel tokenizer over ``w0 … w{n-1}`` (ids = 5 + index) so tests can use unique, known ids.

    ``specials="bart"``: <s>=0 <pad>=1 </s>=2 <unk>=3 <mask>=4; ``"bert"``: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4.
    With ``word_start_marks`` even-indexed words are spelled ``Ġw…`` (a word start) and odd ones ``w…`` (continuation).
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    names = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"] if specials == "bart" else ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {name: i for i, name in enumerate(names)}
    for i in range(n_words):
        word = (f"\u0120w{i}" if i % 2 == 0 else f"w{i}") if word_start_marks else f"w{i}"
        vocab[word] = 5 + i
    backend = Tokenizer(models.WordLevel(vocab, unk_token=names[3] if specials == "bart" else names[1]))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    if specials == "bart":
        kwargs = dict(bos_token="<s>", pad_token="<pad>", eos_token="</s>", unk_token="<unk>", mask_token="<mask>")
    else:
        kwargs = dict(pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    return PreTrainedTokenizerFast(tokenizer_object=backend, **kwargs)


@pytest.fixture(scope="session")
def word_level_bart():
    return make_word_level_tokenizer(4995)


@pytest.fixture(scope="session")
def word_level_bert():
    return make_word_level_tokenizer(4995, specials="bert")
