"""ROUGE computed with Google's `rouge_score` package (bootstrap-aggregated mid F-measure, as the Hub `rouge`
metric reports with `use_aggregator=True`), offline."""

import datasets
import evaluate
from rouge_score import rouge_scorer, scoring


class Rouge(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="ROUGE with rouge_score (local stand-in, no Hub access).",
            citation="",
            inputs_description="predictions, references: lists of strings (rougeLsum splits sentences on newlines).",
            features=datasets.Features(
                {"predictions": datasets.Value("string", id="sequence"),
                 "references": datasets.Value("string", id="sequence")}
            ),
        )

    def _compute(self, predictions, references, rouge_types=None, use_aggregator=True, use_stemmer=False):
        rouge_types = rouge_types or ["rouge1", "rouge2", "rougeL", "rougeLsum"]
        scorer = rouge_scorer.RougeScorer(rouge_types=rouge_types, use_stemmer=use_stemmer)
        scores = [scorer.score(ref, pred) for ref, pred in zip(references, predictions)]
        if use_aggregator:
            aggregator = scoring.BootstrapAggregator()
            for score in scores:
                aggregator.add_scores(score)
            result = aggregator.aggregate()
            return {key: result[key].mid.fmeasure for key in rouge_types}
        return {key: [score[key].fmeasure for score in scores] for key in rouge_types}
