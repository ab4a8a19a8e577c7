"""SQuAD v1.1 exact match and F1 (Rajpurkar et al. 2016), the official evaluation's normalisation and token F1 (the
Hub `squad` metric is the same plain-Python code; no library provides it), with that metric's interface, offline."""

import collections
import re
import string

import datasets
import evaluate


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation, the articles a/an/the and extra whitespace (official v1.1 rules)."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def f1_score(prediction: str, ground_truth: str) -> float:
    prediction_tokens, truth_tokens = normalize_answer(prediction).split(), normalize_answer(ground_truth).split()
    common = collections.Counter(prediction_tokens) & collections.Counter(truth_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(prediction_tokens), overlap / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match_score(prediction: str, ground_truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


class Squad(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="SQuAD v1.1 exact match and F1 (local stand-in, no Hub access).",
            citation="",
            inputs_description=(
                "predictions: [{id, prediction_text}]; references: [{id, answers: {text, answer_start}}]."
            ),
            features=datasets.Features(
                {
                    "predictions": {"id": datasets.Value("string"), "prediction_text": datasets.Value("string")},
                    "references": {
                        "id": datasets.Value("string"),
                        "answers": datasets.Sequence(
                            {"text": datasets.Value("string"), "answer_start": datasets.Value("int32")}
                        ),
                    },
                }
            ),
        )

    def _compute(self, predictions, references):
        predicted = {p["id"]: p["prediction_text"] for p in predictions}
        missing = [r["id"] for r in references if r["id"] not in predicted]
        if missing:
            raise ValueError(f"no prediction for question ids {missing[:5]}")
        exact = f1 = 0.0
        for ref in references:
            truths, prediction = ref["answers"]["text"], predicted[ref["id"]]
            exact += max(exact_match_score(prediction, t) for t in truths)
            f1 += max(f1_score(prediction, t) for t in truths)
        return {"exact_match": 100.0 * exact / len(references), "f1": 100.0 * f1 / len(references)}
