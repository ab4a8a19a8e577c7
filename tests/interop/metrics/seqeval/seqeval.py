"""Entity-level precision/recall/F1 computed with the `seqeval` package, with the Hub `seqeval` metric's keys
(`overall_precision`, `overall_recall`, `overall_f1`, `overall_accuracy` and one dict per entity type), offline."""

import datasets
import evaluate
from seqeval.metrics import accuracy_score, classification_report


class Seqeval(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="seqeval entity scores (local stand-in, no Hub access).",
            citation="",
            inputs_description="predictions, references: lists of tag sequences (IOB strings).",
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("string", id="label"), id="sequence"),
                    "references": datasets.Sequence(datasets.Value("string", id="label"), id="sequence"),
                }
            ),
        )

    def _compute(self, predictions, references, suffix=False, scheme=None, mode=None, sample_weight=None,
                 zero_division="warn"):
        report = classification_report(
            y_true=references, y_pred=predictions, suffix=suffix, output_dict=True, scheme=scheme, mode=mode,
            sample_weight=sample_weight, zero_division=zero_division,
        )
        report.pop("macro avg")
        report.pop("weighted avg")
        overall = report.pop("micro avg")
        scores = {
            entity: {"precision": values["precision"], "recall": values["recall"], "f1": values["f1-score"],
                     "number": values["support"]}
            for entity, values in report.items()
        }
        scores["overall_precision"] = overall["precision"]
        scores["overall_recall"] = overall["recall"]
        scores["overall_f1"] = overall["f1-score"]
        scores["overall_accuracy"] = accuracy_score(y_true=references, y_pred=predictions)
        return scores
