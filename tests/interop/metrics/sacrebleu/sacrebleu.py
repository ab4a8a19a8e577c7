"""Corpus BLEU computed with sacrebleu, with the Hub `sacrebleu` metric's interface and keys (`score`, `counts`,
`totals`, `precisions`, `bp`, `sys_len`, `ref_len`), offline."""

import datasets
import evaluate
import sacrebleu as scb


class Sacrebleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Corpus BLEU with sacrebleu (local stand-in, no Hub access).",
            citation="",
            inputs_description="predictions: strings; references: one list of reference strings per prediction.",
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string", id="sequence"),
                    "references": datasets.Sequence(datasets.Value("string", id="sequence"), id="references"),
                }
            ),
        )

    def _compute(self, predictions, references, smooth_method="exp", smooth_value=None, force=False,
                 lowercase=False, tokenize=None, use_effective_order=False):
        counts = {len(refs) for refs in references}
        if len(counts) > 1:
            raise ValueError(f"every prediction needs the same number of references, got {sorted(counts)}")
        n_refs = counts.pop() if counts else 1
        transposed = [[refs[i] for refs in references] for i in range(n_refs)]
        output = scb.corpus_bleu(
            predictions, transposed, smooth_method=smooth_method, smooth_value=smooth_value, force=force,
            lowercase=lowercase, use_effective_order=use_effective_order,
            **({} if tokenize is None else {"tokenize": tokenize}),
        )
        return {
            "score": output.score, "counts": output.counts, "totals": output.totals,
            "precisions": output.precisions, "bp": output.bp, "sys_len": output.sys_len, "ref_len": output.ref_len,
        }
