"""The CTRL control-code measure (experiments/ctrl_domains.py): the three-domain dataset, the domain classifier, the
confusion matrix, and a tiny end-to-end run (train with codes, generate from each code, classify)."""

import json
import math
import os

import pytest
from fixtures.helpers import COMMON, TINY, path, tokenizers

from tobigs_transformer.experiments import ctrl_domains as cd
from tobigs_transformer.training import run_clm


def _jsonl(file, rows):
    os.makedirs(os.path.dirname(file), exist_ok=True)
    with open(file, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


def _lines(name):
    return [line.strip() for line in open(path(name), encoding="utf-8") if line.strip()]


def _records(name):
    return [json.loads(line) for line in _lines(name)]


@pytest.fixture()
def corpora(tmp_path) -> str:
    """A corpora folder in ``build_corpora``'s layout made of the test fixtures (three distinguishable domains)."""
    root = tmp_path / "data"
    _jsonl(root / "en" / "shakespeare_train.jsonl", [{"text": t, "work": "w"} for t in _lines("en_train.txt")])
    _jsonl(root / "en" / "shakespeare_validation.jsonl",
           [{"text": t, "work": "v"} for t in _lines("en_validation.txt")])
    _jsonl(root / "ko_en" / "train.jsonl", _records("ko_en_train.jsonl"))
    _jsonl(root / "ko_en" / "validation.jsonl", _records("ko_en_validation.jsonl"))
    _jsonl(root / "ko_en" / "test.jsonl", _records("ko_en_pairs.jsonl"))
    _jsonl(root / "cls" / "rotten_tomatoes_train.jsonl", _records("cls_train.jsonl"))
    _jsonl(root / "cls" / "rotten_tomatoes_validation.jsonl", _records("cls_validation.jsonl"))
    _jsonl(root / "cls" / "rotten_tomatoes_test.jsonl", [])
    return str(root)


def test_dataset_has_the_three_codes_balanced_and_held_out_apart(corpora, tmp_path):
    data = cd.build_domain_dataset(corpora, str(tmp_path / "ctrl"), seed=3, min_chars=1)
    assert data["codes"] == ["<shakespeare>", "<bible>", "<review>"]
    rows = {name: cd.read_rows(file) for name, file in data["files"].items()}
    for name, (texts, codes) in rows.items():
        per_code = {code: codes.count(code) for code in data["codes"]}
        assert per_code == data["counts"][name] and len(set(per_code.values())) == 1, (name, per_code)
    # balanced to the smallest domain: 48 bible pairs in train; 16 review snippets held out (halved)
    assert data["counts"]["train"]["<bible>"] == len(_records("ko_en_train.jsonl"))
    assert data["counts"]["classifier_train"]["<review>"] == len(_records("cls_validation.jsonl")) // 2
    train, held = set(rows["train"][0]), set(rows["classifier_train"][0]) | set(rows["validation"][0])
    assert set(rows["classifier_train"][0]).isdisjoint(rows["validation"][0])
    assert held <= set(_lines("en_validation.txt")) | {r["en"] for r in _records("ko_en_validation.jsonl")} | {
        r["en"] for r in _records("ko_en_pairs.jsonl")} | {r["text"] for r in _records("cls_validation.jsonl")}
    assert train.isdisjoint(held - set(_lines("en_train.txt")))  # the corpora's own splits are kept
    # the codes are mixed through the training file, not in runs of one domain
    codes = rows["train"][1]
    assert max(len(set(codes[i : i + 12])) for i in range(0, len(codes) - 12, 12)) == 3
    # same seed: the same files; another seed: another order
    again = cd.build_domain_dataset(corpora, str(tmp_path / "again"), seed=3, min_chars=1)
    other = cd.build_domain_dataset(corpora, str(tmp_path / "other"), seed=4, min_chars=1)
    read = lambda d: open(d["files"]["train"], encoding="utf-8").read()  # noqa: E731
    assert read(again) == read(data) != read(other)


def test_dataset_caps_and_errors(corpora, tmp_path):
    data = cd.build_domain_dataset(corpora, str(tmp_path / "c"), train_per_domain=5, held_out_per_domain=4,
                                   min_chars=1)
    assert set(data["counts"]["train"].values()) == {5}
    assert set(data["counts"]["classifier_train"].values()) == set(data["counts"]["validation"].values()) == {2}
    with pytest.raises(ValueError, match="train_per_domain must be a positive int"):
        cd.build_domain_dataset(corpora, str(tmp_path / "d"), train_per_domain=0)
    with pytest.raises(ValueError, match="no text of at least the minimum length"):
        cd.build_domain_dataset(corpora, str(tmp_path / "e"), min_chars=10_000)
    with pytest.raises(FileNotFoundError, match="missing from the corpora folder"):
        cd.build_domain_dataset(str(tmp_path / "nowhere"), str(tmp_path / "f"))


def test_classifier_learns_separable_domains():
    import random

    rng = random.Random(0)
    vocab = {"a": ["thou", "thee", "hath", "doth"], "b": ["lord", "god", "israel", "unto"],
             "c": ["film", "movie", "actors", "plot"]}
    shared = ["the", "and", "of", "is"]

    def text(label):
        return " ".join(rng.choice(vocab[label] if rng.random() < 0.4 else shared) for _ in range(12))

    labels = [label for label in "abc" for _ in range(30)]
    classifier = cd.NaiveBayesDomainClassifier().fit([text(label) for label in labels], labels)
    test = [label for label in "cab" for _ in range(20)]
    predicted = classifier.predict([text(label) for label in test])
    assert cd.accuracy(cd.confusion_matrix(test, predicted, list("abc"))) > 0.9
    # text of no known feature: the (uniform) prior decides, and ties go to the first label
    assert classifier.predict(["", "zzz"]) == ["a", "a"]
    with pytest.raises(ValueError, match="not fitted"):
        cd.NaiveBayesDomainClassifier().predict(["x"])


def test_confusion_matrix_and_on_target():
    labels = ["x", "y", "z"]
    true = ["x", "x", "y", "y", "z", "z"]
    predicted = ["x", "y", "y", "y", "x", "z"]
    m = cd.confusion_matrix(true, predicted, labels)
    assert m == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert [sum(row) for row in m] == [true.count(label) for label in labels]
    result = cd.on_target(m)
    assert result["on_target"] == pytest.approx(4 / 6) and result["chance"] == pytest.approx(1 / 3)
    # the binomial tail by brute force over every assignment of hit/miss to the 6 items
    from itertools import product

    tail = sum(math.prod(1 / 3 if hit else 2 / 3 for hit in outcome)
               for outcome in product((True, False), repeat=6) if sum(outcome) >= 4)
    assert result["p_value"] == pytest.approx(tail)
    with pytest.raises(ValueError, match=r"labels \['w'\] are not among"):
        cd.confusion_matrix(["w"], ["x"], labels)
    with pytest.raises(ValueError, match="differ in length"):
        cd.confusion_matrix(["x"], [], labels)


def test_end_to_end_tiny_run(corpora, tmp_path):
    from transformers import AutoTokenizer

    from tobigs_transformer.model.modeling_tobigs import TobigsForCausalLM

    data = cd.build_domain_dataset(corpora, str(tmp_path / "ctrl"), train_per_domain=16, seed=0, min_chars=1)
    out = str(tmp_path / "gpt")
    run_clm.main(["--preset", "gpt2", "--config_overrides", TINY, "--tokenizer_name", tokenizers()["gpt"],
                  "--train_file", data["files"]["train"], "--validation_file", data["files"]["validation"],
                  "--control_code_column", "domain", "--block_size", "32", "--output_dir", out, "--max_steps", "3",
                  "--do_train", "--do_eval", *COMMON])
    model, tokenizer = TobigsForCausalLM.from_pretrained(out), AutoTokenizer.from_pretrained(out)
    result = cd.evaluate_control_codes(model, tokenizer, data, n_per_code=3, max_new_tokens=6, seed=1)
    assert len(result["confusion"]) == 3 and all(len(row) == 3 for row in result["confusion"])
    assert [sum(row) for row in result["confusion"]] == [3, 3, 3] and result["n"] == 9
    assert [s["control_code"] for s in result["samples"]] == [c for c in data["codes"] for _ in range(3)]
    assert all(len(tokenizer(s["text"], add_special_tokens=False)["input_ids"]) >= 5 for s in result["samples"])
    assert 0.0 <= result["on_target"] <= 1.0 and 0.0 < result["p_value"] <= 1.0
    assert result["classifier_accuracy"] > 1 / 3  # the fixture domains are easy to tell apart
    again = cd.evaluate_control_codes(model, tokenizer, data, n_per_code=3, max_new_tokens=6, seed=1)
    assert again["samples"] == result["samples"]  # same seed, same samples
    with pytest.raises(ValueError, match="n_per_code must be a positive int"):
        cd.evaluate_control_codes(model, tokenizer, data, n_per_code=0)


def test_penalized_sampling_options_are_checked():
    with pytest.raises(ValueError, match="greedy decoding gives one text"):
        run_clm.generate_samples(None, None, [""], top_k=0, num_samples=2)
    with pytest.raises(ValueError, match="repetition_penalty must be > 0"):
        run_clm.generate_samples(None, None, [""], repetition_penalty=0.0)
