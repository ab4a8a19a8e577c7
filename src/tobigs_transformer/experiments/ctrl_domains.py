"""CTRL's control codes, shown working and measured (Keskar et al. 2019; the lecture's "generate with the style of a
book or a movie review").

One small GPT is trained with three control codes over the offline corpora (:mod:`tobigs_transformer.data.corpora`):

* ``<shakespeare>`` — Shakespeare (and Milton) paragraphs, held out: Macbeth, the Sonnets, Paradise Regained;
* ``<bible>`` — the World English Bible side of the ko↔en pairs, held out: Ruth, Jonah, James and Mark;
* ``<review>`` — Rotten Tomatoes review snippets, held out: the validation and test movies.

Then it is asked, from an empty prompt, for ``n`` samples per code, and a domain classifier that never saw the GPT's
training text decides which corpus each sample reads like.  The classifier is multinomial naive Bayes over lower-cased
word unigrams and bigrams (Laplace smoothing, uniform prior): no dependency, deterministic, and strong on these three
corpora (its accuracy on held-out real text is reported next to the result).  The result is the confusion matrix of
requested code × classified domain, the fraction on target against chance (1/3), and the one-sided binomial p-value
of that fraction under chance.

Data (:func:`build_domain_dataset`): per domain, the corpus's training rows (at least ``min_chars`` characters) are
shuffled with the seed and cut to the same count, then all domains are shuffled together (``train.jsonl``); its
held-out rows, also shuffled and cut to one count, are halved into ``classifier_train.jsonl`` (the classifier's
training text) and ``validation.jsonl`` (the GPT's evaluation text and the classifier's test text).  Rows are
``{"text", "domain"}`` with the code in ``domain``, which is what ``tobigs train clm --control_code_column domain``
reads.

Sampling: at least ``min_new_tokens`` (8) tokens, then top-k sampling with CTRL's penalized sampling
(``repetition_penalty``: the logits of tokens already in the sequence are divided by θ when positive and multiplied
when negative; the paper's θ = 1.2), seeded (``seed + i`` for the i-th code), so the same model and seed give the same
samples.  This is the causal-LM stage of ``tobigs demo`` (``run_gpt_stage``): at the full demo's size (d_model 128,
3 layers, 300 steps of 16 x 128 tokens) the samples land on the requested domain about twice as often as chance
(docs/demo_results.md); at ``--quick`` size (60 steps of a d_model-64 model) they are at chance, which only shows
that the chain runs.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..tooling.data_files import DataFileError

__all__ = [
    "DOMAINS",
    "Domain",
    "NaiveBayesDomainClassifier",
    "build_domain_dataset",
    "confusion_matrix",
    "evaluate_control_codes",
    "on_target",
    "read_domain_texts",
]


@dataclass(frozen=True)
class Domain:
    """One control code and where its text lives in a corpora folder (``build_corpora``'s layout)."""

    code: str
    name: str
    train_files: tuple[str, ...]
    held_out_files: tuple[str, ...]
    column: str


DOMAINS = (
    Domain("<shakespeare>", "Shakespeare", ("en/shakespeare_train.jsonl",), ("en/shakespeare_validation.jsonl",),
           "text"),
    Domain("<bible>", "Bible (WEB English)", ("ko_en/train.jsonl",), ("ko_en/validation.jsonl", "ko_en/test.jsonl"),
           "en"),
    Domain("<review>", "Rotten Tomatoes review", ("cls/rotten_tomatoes_train.jsonl",),
           ("cls/rotten_tomatoes_validation.jsonl", "cls/rotten_tomatoes_test.jsonl"), "text"),
)
CODES = tuple(d.code for d in DOMAINS)


def _rows(data_dir: str, files: Sequence[str], column: str, min_chars: int) -> list[str]:
    texts = []
    for name in files:
        file = os.path.join(data_dir, name)
        if not os.path.isfile(file):
            raise FileNotFoundError(f"{file}: missing from the corpora folder {data_dir!r} (build it with "
                                    "`tobigs corpora`)")
        # every row holds a string (file, line and column otherwise): only texts shorter than min_chars are left out
        for number, row in _records(file):
            text = _value(row, column, file, number).strip()
            if len(text) >= min_chars:
                texts.append(text)
    return texts


def _records(path: str) -> Iterator[tuple[int, dict]]:
    """``(line number, record)`` of a JSON-lines file (blank lines skipped; a line that is no JSON object is named)."""
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFileError(f"{path}:{number}: malformed JSON line: {exc.msg} (column {exc.colno})") from None
            if not isinstance(row, dict):
                raise DataFileError(f"{path}:{number}: expected one JSON object per line")
            yield number, row


def _value(row: dict, column: str, path: str, line: int) -> str:
    """``row[column]``, a string; otherwise an error naming the file, the line and the column."""
    value = row.get(column)
    if not isinstance(value, str):
        what = f"no column {column!r} (columns: {sorted(row)})" if column not in row else (
            f"column {column!r} is {'null' if value is None else type(value).__name__ + ' ' + repr(value)}; "
            "expected a string")
        raise DataFileError(f"{path}:{line}: {what}")
    return value


def read_domain_texts(data_dir: str, split: str = "train", limit: int | None = None, min_chars: int = 20,
                      domains: Sequence[Domain] = DOMAINS) -> dict[str, list[str]]:
    """``{code: texts}`` of every domain's ``train`` or ``held_out`` rows, in file order, the first ``limit`` each."""
    if split not in ("train", "held_out"):
        raise ValueError(f"split must be 'train' or 'held_out', got {split!r}")
    out = {}
    for d in domains:
        texts = _rows(data_dir, d.train_files if split == "train" else d.held_out_files, d.column, min_chars)
        out[d.code] = texts[:limit] if limit else texts
    return out


def _balanced(by_code: dict[str, list[str]], cap: int | None, rng: random.Random) -> dict[str, list[str]]:
    """Every domain shuffled and cut to the same count (the smallest domain's, or ``cap``)."""
    n = min(len(texts) for texts in by_code.values())
    if cap is not None:
        n = min(n, cap)
    if n == 0:
        empty = [code for code, texts in by_code.items() if not texts]
        raise ValueError(f"no text of at least the minimum length for the domains {empty}")
    out = {}
    for code, texts in by_code.items():
        texts = list(texts)
        rng.shuffle(texts)
        out[code] = texts[:n]
    return out


def _write(path: str, rows: Iterable[dict[str, str]]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def build_domain_dataset(data_dir: str, out_dir: str, train_per_domain: int | None = None,
                         held_out_per_domain: int | None = None, seed: int = 0, min_chars: int = 20,
                         domains: Sequence[Domain] = DOMAINS) -> dict[str, Any]:
    """Write ``train.jsonl``, ``classifier_train.jsonl`` and ``validation.jsonl`` (rows ``{"text", "domain"}``)
    into ``out_dir`` from the corpora folder ``data_dir``; equal counts per domain in every file (see the module
    docstring).  Returns the files and their counts per domain."""
    for name, value in (("train_per_domain", train_per_domain), ("held_out_per_domain", held_out_per_domain)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    if held_out_per_domain is not None and held_out_per_domain < 2:
        raise ValueError(f"held_out_per_domain must be >= 2 (it is halved), got {held_out_per_domain}")
    rng = random.Random(seed)
    train = _balanced(read_domain_texts(data_dir, "train", min_chars=min_chars, domains=domains), train_per_domain,
                      rng)
    held_out = _balanced(read_domain_texts(data_dir, "held_out", min_chars=min_chars, domains=domains),
                         held_out_per_domain, rng)
    train_rows = [{"text": t, "domain": code} for code, texts in train.items() for t in texts]
    rng.shuffle(train_rows)  # domains mixed: no run of one domain in the file
    half = {code: len(texts) // 2 for code, texts in held_out.items()}
    classifier_rows = [{"text": t, "domain": c} for c, texts in held_out.items() for t in texts[: half[c]]]
    validation_rows = [{"text": t, "domain": c} for c, texts in held_out.items() for t in texts[half[c]:]]
    os.makedirs(out_dir, exist_ok=True)
    files = {name: os.path.join(out_dir, f"{name}.jsonl") for name in ("train", "classifier_train", "validation")}
    _write(files["train"], train_rows)
    _write(files["classifier_train"], classifier_rows)
    _write(files["validation"], validation_rows)
    counts = {"train": {c: len(t) for c, t in train.items()},
              "classifier_train": {c: half[c] for c in held_out},
              "validation": {c: len(t) - half[c] for c, t in held_out.items()}}
    return {"files": files, "counts": counts, "codes": [d.code for d in domains], "seed": seed}


def read_rows(path: str) -> tuple[list[str], list[str]]:
    """``(texts, codes)`` of a file written by :func:`build_domain_dataset` (a row without both names its file,
    line and column)."""
    texts, codes = [], []
    for number, row in _records(path):
        texts.append(_value(row, "text", path, number))
        codes.append(_value(row, "domain", path, number))
    return texts, codes


# ------------------------------------------------------------------------------------------------- the classifier
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|[^\sa-z0-9]")


def features(text: str) -> list[str]:
    """Lower-cased words and punctuation marks, and their bigrams (``"shall|not"``)."""
    words = _WORD.findall(text.lower())
    return words + [f"{a}|{b}" for a, b in zip(words, words[1:])]


class NaiveBayesDomainClassifier:
    """Multinomial naive Bayes over :func:`features` with add-``alpha`` smoothing and a uniform prior (the domains are
    balanced by construction, and a prior would only favour the largest).  Ties go to the first label."""

    def __init__(self, alpha: float = 1.0):
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0 (Laplace smoothing), got {alpha!r}")
        self.alpha = alpha
        self.labels: list[str] = []
        self._log_p: dict[str, dict[str, float]] = {}
        self._log_unseen: dict[str, float] = {}

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> NaiveBayesDomainClassifier:
        if len(texts) != len(labels) or not texts:
            raise ValueError(f"fit needs as many labels as texts, and some: got {len(texts)} texts and "
                             f"{len(labels)} labels")
        self.labels = list(dict.fromkeys(labels))
        counts = {label: Counter() for label in self.labels}
        for text, label in zip(texts, labels):
            counts[label].update(features(text))
        vocabulary = set().union(*counts.values())
        for label, c in counts.items():
            denominator = math.log(sum(c.values()) + self.alpha * (len(vocabulary) + 1))  # +1: the unseen feature
            self._log_p[label] = {f: math.log(n + self.alpha) - denominator for f, n in c.items()}
            self._log_unseen[label] = math.log(self.alpha) - denominator
        return self

    def scores(self, text: str) -> dict[str, float]:
        """Log-likelihood of ``text``'s features under each label."""
        if not self.labels:
            raise ValueError("the classifier is not fitted: call fit(texts, labels) first")
        feats = features(text)
        return {label: sum(self._log_p[label].get(f, self._log_unseen[label]) for f in feats)
                for label in self.labels}

    def predict(self, texts: Sequence[str]) -> list[str]:
        out = []
        for text in texts:
            scores = self.scores(text)
            out.append(max(self.labels, key=lambda label: scores[label]))  # max keeps the first of equals
        return out


# -------------------------------------------------------------------------------------------------- the measures
def confusion_matrix(true: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    """``m[i][j]`` = how many items of ``labels[i]`` were classified as ``labels[j]``."""
    if len(true) != len(predicted):
        raise ValueError(f"true and predicted differ in length: {len(true)} vs {len(predicted)}")
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({x for x in (*true, *predicted) if x not in index})
    if unknown:
        raise ValueError(f"labels {unknown} are not among {list(labels)}")
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(true, predicted):
        matrix[index[t]][index[p]] += 1
    return matrix


def on_target(matrix: Sequence[Sequence[int]]) -> dict[str, float]:
    """Fraction on the diagonal, chance (1/k), and the one-sided binomial p-value of at least that many hits when
    every item has chance 1/k of being a hit."""
    k = len(matrix)
    total = sum(map(sum, matrix))
    hits = sum(matrix[i][i] for i in range(k))
    if k == 0 or total == 0:
        raise ValueError("an empty confusion matrix has no on-target fraction")
    chance = 1.0 / k
    p_value = sum(math.comb(total, h) * chance**h * (1 - chance) ** (total - h) for h in range(hits, total + 1))
    return {"on_target": hits / total, "chance": chance, "p_value": min(1.0, p_value), "n": total}


def accuracy(matrix: Sequence[Sequence[int]]) -> float:
    return on_target(matrix)["on_target"]


# --------------------------------------------------------------------------------------------- the whole measure
def generate_from_codes(model, tokenizer, codes: Sequence[str], n_per_code: int, max_new_tokens: int = 48,
                        top_k: int = 40, repetition_penalty: float = 1.2, seed: int = 0,
                        min_new_tokens: int = 8) -> list[dict[str, str]]:
    """``n_per_code`` samples from each code and an empty prompt (seeded top-k + CTRL's penalized sampling).  Code i
    samples with seed ``seed + i``: one shared seed would draw the same random numbers for every code, so a model
    that ignored its code would still write the same texts under each (hits not independent, the binomial test
    void).  ``min_new_tokens`` keeps every sample from being empty (an empty text has no feature, and the
    classifier's tie rule would decide it)."""
    from ..training.run_clm import generate_samples

    return [sample for i, code in enumerate(codes)
            for sample in generate_samples(model, tokenizer, [""], max_new_tokens, top_k, seed + i,
                                           control_code=code, repetition_penalty=repetition_penalty,
                                           num_samples=n_per_code, min_new_tokens=min_new_tokens)]


def evaluate_control_codes(model, tokenizer, dataset: dict[str, Any], n_per_code: int = 20, max_new_tokens: int = 48,
                           top_k: int = 40, repetition_penalty: float = 1.2, seed: int = 0,
                           min_new_tokens: int = 8) -> dict[str, Any]:
    """Classifier fitted on ``classifier_train``, its accuracy on ``validation`` (real held-out text), then the
    confusion matrix of the samples generated from each code.  ``dataset`` is :func:`build_domain_dataset`'s
    result."""
    if isinstance(n_per_code, bool) or not isinstance(n_per_code, int) or n_per_code < 1:
        raise ValueError(f"n_per_code must be a positive int, got {n_per_code!r}")
    codes = list(dataset["codes"])
    classifier = NaiveBayesDomainClassifier().fit(*read_rows(dataset["files"]["classifier_train"]))
    real_texts, real_codes = read_rows(dataset["files"]["validation"])
    real = confusion_matrix(real_codes, classifier.predict(real_texts), codes)
    samples = generate_from_codes(model, tokenizer, codes, n_per_code, max_new_tokens, top_k, repetition_penalty,
                                  seed, min(min_new_tokens, max_new_tokens))
    predicted = classifier.predict([s["text"] for s in samples])
    for sample, label in zip(samples, predicted):
        sample["classified_as"] = label
    generated = confusion_matrix([s["control_code"] for s in samples], predicted, codes)
    return {
        "codes": codes,
        "classifier": "multinomial naive Bayes, word unigrams + bigrams, add-1 smoothing, uniform prior",
        "classifier_accuracy": accuracy(real),
        "classifier_confusion": real,
        "confusion": generated,
        **on_target(generated),
        "sampling": {"n_per_code": n_per_code, "prompt": "", "max_new_tokens": max_new_tokens,
                     "min_new_tokens": min(min_new_tokens, max_new_tokens), "top_k": top_k,
                     "repetition_penalty": repetition_penalty, "seed": seed},
        "samples": samples,
    }


def matrix_markdown(matrix: Sequence[Sequence[int]], labels: Sequence[str], rows: str = "requested",
                    columns: str = "classified as") -> list[str]:
    """The matrix as Markdown table lines (``rows`` down, ``columns`` across)."""
    head = f"| {rows} \\ {columns} | " + " | ".join(f"`{label}`" for label in labels) + " |"
    lines = [head, "|---" * (len(labels) + 1) + "|"]
    lines += [f"| `{label}` | " + " | ".join(str(v) for v in row) + " |" for label, row in zip(labels, matrix)]
    return lines
