"""Tokenizer training: every kind saves/loads through AutoTokenizer and the lecture's sentences round-trip (NFC)."""

from __future__ import annotations

import json
import unicodedata

import pytest
from transformers import AutoTokenizer

from tobigs_transformer.data import TOKENIZER_KINDS, train_tokenizer
from tobigs_transformer.data.cli_train_tokenizer import main as train_tokenizer_main

from .conftest import EN, FIXTURES, KO


@pytest.fixture(scope="module", params=TOKENIZER_KINDS)
def saved(request, texts, tmp_path_factory):
    directory = tmp_path_factory.mktemp(request.param)
    vocab = 150 if request.param == "translation" else 500
    train_tokenizer(request.param, texts, vocab_size=vocab, min_frequency=1, save_dir=directory)
    return request.param, AutoTokenizer.from_pretrained(directory)


def test_round_trip_korean_and_english(saved):
    kind, tok = saved
    for text in (KO, EN, KO + " " + EN):
        ids = tok(text)["input_ids"]
        assert tok.decode(ids, skip_special_tokens=True) == text, kind
        assert tok.unk_token_id not in ids or kind == "wordpiece"


def test_nfc_normalisation(saved):
    kind, tok = saved
    decomposed = unicodedata.normalize("NFD", KO)
    assert decomposed != KO
    assert tok(decomposed)["input_ids"] == tok(KO)["input_ids"], kind


def test_special_token_layouts(saved):
    kind, tok = saved
    if kind == "gpt":
        assert tok.pad_token_id != tok.eos_token_id and tok.bos_token_id == tok.eos_token_id
        assert tok.padding_side == "left" and tok.mask_token is None
        batch = tok([EN, "Hi"], padding=True)
        assert batch["input_ids"][1][0] == tok.pad_token_id  # left padding
    elif kind == "bart":
        assert [tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id, tok.mask_token_id] == [0, 1, 2, 3, 4]
        ids = tok(EN)["input_ids"]
        assert ids[0] == 0 and ids[-1] == 2
        pair = tok(EN, KO)["input_ids"]
        assert pair.count(2) == 3  # <s> A </s> </s> B </s>
    elif kind == "wordpiece":
        assert tok.model_input_names == ["input_ids", "token_type_ids", "attention_mask"]
        enc = tok(EN, KO)
        tokens = tok.convert_ids_to_tokens(enc["input_ids"])
        assert tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2 and tokens[-1] == "[SEP]"
        first_sep = tokens.index("[SEP]")
        assert enc["token_type_ids"] == [0] * (first_sep + 1) + [1] * (len(tokens) - first_sep - 1)
        assert tok.mask_token == "[MASK]" and tok.pad_token_id == 0
    else:
        enc = tok(KO, text_target=EN)
        assert enc["input_ids"][-1] == tok.eos_token_id and enc["labels"][-1] == tok.eos_token_id
        assert tok.decode(enc["labels"], skip_special_tokens=True) == EN
        assert tok.pad_token_id == 1 and tok.bos_token_id == 0


def test_bad_arguments(texts):
    with pytest.raises(ValueError, match="kind"):
        train_tokenizer("sentencepiece", texts)
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer("bart", texts, vocab_size=100)
    with pytest.raises(TypeError, match="iterable of strings"):
        train_tokenizer("wordpiece", "just one string")
    with pytest.raises(ValueError, match="model"):
        train_tokenizer("translation", texts, model="wordlevel")
    with pytest.raises(ValueError, match="distinct characters"):
        train_tokenizer("translation", texts, vocab_size=20)


def test_cli_trains_from_jsonl_and_txt(tmp_path, capsys):
    out = tmp_path / "tok"
    code = train_tokenizer_main([
        "--kind", "translation", "--train_file", str(FIXTURES / "ko_en_pairs.jsonl"),
        "--text_column", "ko", "en", "--vocab_size", "400", "--min_frequency", "1", "--output_dir", str(out),
    ])
    assert code == 0 and (out / "tokenizer.json").exists()
    assert "round trip exact: True" in capsys.readouterr().out
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.decode(tok(KO)["input_ids"], skip_special_tokens=True) == KO
    txt_out = tmp_path / "wp"
    assert train_tokenizer_main([
        "--kind", "wordpiece", "--train_file", str(FIXTURES / "english_documents.txt"), "--vocab_size", "200",
        "--min_frequency", "1", "--output_dir", str(txt_out),
    ]) == 0
    config = json.loads((txt_out / "tokenizer_config.json").read_text())
    assert "token_type_ids" in config["model_input_names"]


def test_wordpiece_continuation_tokens_are_vocabulary_not_added_tokens(texts):
    """The ``##x`` tokens get fixed ids right after the specials (for reproducibility) but stay ordinary vocabulary:
    only the five specials are added tokens, so a literal "##e" in a text is not matched as one token."""
    tok = train_tokenizer("wordpiece", texts, vocab_size=500, min_frequency=1)
    assert sorted(tok.added_tokens_decoder) == [0, 1, 2, 3, 4]
    vocab = tok.get_vocab()
    continuation = sorted((i, t) for t, i in vocab.items() if t.startswith("##") and len(t) == 3)
    assert [i for i, _ in continuation] == list(range(5, 5 + len(continuation)))  # one block after the specials
    assert [t for _, t in continuation] == sorted(t for _, t in continuation)  # in code-point order
    assert "##e" in vocab and "##e" not in tok.tokenize("x ##e")  # '#' '#' 'e' are pre-tokenised apart


def test_unigram_pieces_are_in_canonical_order(texts):
    """Specials first; then pieces sorted by (-score, piece) with scores rounded to UNIGRAM_SCORE_DECIMALS."""
    from tobigs_transformer.data.tokenization import UNIGRAM_SCORE_DECIMALS

    tok = train_tokenizer("translation", texts, vocab_size=150, min_frequency=1)
    vocab = json.loads(tok.backend_tokenizer.to_str())["model"]["vocab"]
    assert [p for p, _ in vocab[:5]] == ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    pieces = vocab[5:]
    assert pieces == sorted(pieces, key=lambda ps: (-ps[1], ps[0]))
    assert all(round(s, UNIGRAM_SCORE_DECIMALS) == s for _, s in pieces)
    floor = min(s for _, s in pieces)
    # the characters the trainer had to add back all sit at the floor (no hash-ordered 1e-4 staircase)
    assert not any(0 < s - floor < 0.05 and len(p) == 1 for p, s in pieces if abs((s - floor) / 1e-4 % 1) < 1e-6)
