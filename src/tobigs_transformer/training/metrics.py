"""The evaluation metrics of the training commands (``compute_metrics`` for ``Trainer``), in one place.

* :func:`next_token_accuracy` — causal LM: share of next tokens the argmax predicts;
* :func:`pretraining_accuracy` — masked LM (+ the NSP/SOP pair head): ``mlm_accuracy`` (and ``nsp_accuracy``);
* :func:`classification_metrics` — accuracy and macro-F1 over labels (sequence or token level);
* :class:`TokenClassificationMetrics` — the above plus ``entity_f1``, macro-F1 over the tags other than ``O``;
* :class:`GenerationMetrics` — BLEU and chrF of generated text (the package's offline sacrebleu module) and the
  mean generated length.

Labels of -100 are ignored everywhere.  :func:`argmax_logits` is the ``preprocess_logits_for_metrics`` that keeps
only the predicted ids (:func:`argmax_pretraining_logits` those of both pretraining heads), so evaluation never
holds the full ``(N, T, vocab)`` logits in memory.
"""

from __future__ import annotations

import uuid

import numpy as np

__all__ = [
    "GenerationMetrics",
    "TokenClassificationMetrics",
    "argmax_logits",
    "argmax_pretraining_logits",
    "classification_metrics",
    "decode_ids",
    "macro_f1",
    "next_token_accuracy",
    "pretraining_accuracy",
]


def argmax_logits(logits, labels):
    """The predicted ids of the main head (the first output when the model returns several, e.g. logits + cache)."""
    return (logits[0] if isinstance(logits, (tuple, list)) else logits).argmax(-1)


def argmax_pretraining_logits(logits, labels):
    """The predicted ids of the masked-LM head and, when there is one, the pair (NSP/SOP) head."""
    if isinstance(logits, (tuple, list)):
        return tuple(x.argmax(-1) for x in logits[:2])
    return logits.argmax(-1)


def _accuracy(preds: np.ndarray, labels: np.ndarray) -> float:
    mask = labels != -100
    return float((preds[mask] == labels[mask]).mean()) if mask.any() else float("nan")


def next_token_accuracy(eval_pred) -> dict[str, float]:
    """Share of targets (``shift_labels`` other than -100) the argmax of the logits predicts."""
    return {"accuracy": _accuracy(np.asarray(eval_pred.predictions), np.asarray(eval_pred.label_ids))}


def pretraining_accuracy(eval_pred) -> dict[str, float]:
    """``mlm_accuracy`` over the masked positions; with a pair head also ``nsp_accuracy`` (NSP or SOP labels)."""
    preds, labels = eval_pred.predictions, eval_pred.label_ids
    out = {}
    if isinstance(preds, (tuple, list)):
        (preds, pair_preds), (labels, pair_labels) = preds[:2], labels[:2]
        out["nsp_accuracy"] = float((np.asarray(pair_preds) == np.asarray(pair_labels)).mean())
    out["mlm_accuracy"] = _accuracy(np.asarray(preds), np.asarray(labels))
    return out


def macro_f1(preds: np.ndarray, labels: np.ndarray, classes) -> float:
    """Mean over ``classes`` of 2·TP / (2·TP + FP + FN), classes with no TP, FP or FN left out."""
    f1s = []
    for c in classes:
        tp = np.sum((preds == c) & (labels == c))
        fp = np.sum((preds == c) & (labels != c))
        fn = np.sum((preds != c) & (labels == c))
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s)) if f1s else float("nan")


def _predictions_and_labels(eval_pred) -> tuple[np.ndarray, np.ndarray]:
    logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
    logits = np.asarray(logits)
    labels = np.asarray(eval_pred.label_ids)
    preds = logits.argmax(-1) if logits.ndim > labels.ndim else logits
    return preds, labels


def classification_metrics(eval_pred) -> dict[str, float]:
    """Accuracy and macro-averaged F1 (over the classes present in labels or predictions)."""
    preds, labels = _predictions_and_labels(eval_pred)
    keep = labels != -100
    preds, labels = preds[keep], labels[keep]
    return {
        "accuracy": float((preds == labels).mean()) if labels.size else float("nan"),
        "f1": macro_f1(preds, labels, np.union1d(np.unique(labels), np.unique(preds))),
    }


class TokenClassificationMetrics:
    """:func:`classification_metrics` over the labelled sub-tokens, plus ``entity_f1``: macro-F1 over the tags other
    than ``outside_id`` (``O``), counted where the label or the prediction is an entity tag."""

    def __init__(self, num_labels: int, outside_id: int | None):
        self.num_labels = num_labels
        self.outside_id = outside_id

    def __call__(self, eval_pred) -> dict[str, float]:
        out = classification_metrics(eval_pred)
        if self.outside_id is None:
            return out
        preds, labels = _predictions_and_labels(eval_pred)
        keep = (labels != -100) & ((labels != self.outside_id) | (preds != self.outside_id))
        classes = [c for c in range(self.num_labels) if c != self.outside_id]
        out["entity_f1"] = macro_f1(preds[keep], labels[keep], classes)
        return out


def decode_ids(tokenizer, rows) -> list[str]:
    """Rows of token ids (negative ids, i.e. -100 label padding, read as the pad token) → stripped strings without
    special tokens."""
    pad = tokenizer.pad_token_id
    return [s.strip() for s in tokenizer.batch_decode([[pad if t < 0 else int(t) for t in row] for row in rows],
                                                      skip_special_tokens=True)]


class GenerationMetrics:
    """BLEU and chrF (``tobigs_transformer.metrics``' sacrebleu module, offline) of decoded generations against the
    decoded labels, and ``gen_len``, the mean number of non-pad generated tokens."""

    def __init__(self, tokenizer):
        from ..metrics import load_sacrebleu

        self.tokenizer = tokenizer
        self.metric = load_sacrebleu(experiment_id=uuid.uuid4().hex, keep_in_memory=True)

    def __call__(self, eval_pred) -> dict[str, float]:
        preds = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        preds = np.where(np.asarray(preds) < 0, self.tokenizer.pad_token_id, preds)
        hyps = decode_ids(self.tokenizer, preds)
        refs = [[r] for r in decode_ids(self.tokenizer, eval_pred.label_ids)]
        scores = self.metric.compute(predictions=hyps, references=refs)
        lengths = [int(np.count_nonzero(p != self.tokenizer.pad_token_id)) for p in preds]
        return {"bleu": scores["bleu"], "chrf": scores["chrf"], "gen_len": float(np.mean(lengths)) if lengths else 0.0}
