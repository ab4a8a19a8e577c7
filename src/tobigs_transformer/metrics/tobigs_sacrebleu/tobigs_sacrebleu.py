"""BLEU (Papineni et al. 2002) and chrF (Popović 2015) as a local ``evaluate`` metric, computed with ``sacrebleu``.

The Transformer paper reports BLEU on held-out text; ``evaluate.load("sacrebleu")`` fetches its script from the Hub,
so this module is shipped with the package and loaded by path::

    import evaluate
    from tobigs_transformer.metrics import SACREBLEU_PATH
    metric = evaluate.load(SACREBLEU_PATH)
    metric.compute(predictions=["the cat sat"], references=[["the cat sat"]])   # bleu 100.0, chrf 100.0

``references`` holds one list of reference strings per prediction (every prediction needs the same number).
Scores are sacrebleu's corpus-level scores on a 0-100 scale with its defaults (``13a`` tokenisation for BLEU;
chrF with character order 6, word order 0, β = 2); ``tokenize``, ``lowercase`` and ``word_order`` (2 = chrF++) can be
passed to ``compute``.
"""

import datasets
import evaluate
import sacrebleu


_DESCRIPTION = "Corpus BLEU and chrF computed with sacrebleu (local module, no Hub access)."
_KWARGS_DESCRIPTION = """
Args:
    predictions: list of hypothesis strings.
    references: list of lists of reference strings (same number of references for every prediction).
    tokenize: BLEU tokenizer name ("13a" default, "none", "intl", "char", "zh", "ja-mecab", ...).
    lowercase: lowercase before scoring (BLEU and chrF).
    word_order: chrF word n-gram order (0 = chrF, 2 = chrF++).
Returns:
    bleu, chrf, counts, totals, precisions, bp, sys_len, ref_len.
"""
_CITATION = """@inproceedings{post-2018-call, title={A Call for Clarity in Reporting {BLEU} Scores}, author={Post, Matt},
booktitle={Proceedings of the Third Conference on Machine Translation}, year={2018}, pages={186--191}}"""


class TobigsSacrebleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string", id="sequence"),
                    "references": datasets.Sequence(datasets.Value("string", id="sequence"), id="references"),
                }
            ),
            codebase_urls=["https://github.com/mjpost/sacreBLEU"],
        )

    def _compute(self, predictions, references, tokenize="13a", lowercase=False, word_order=0):
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")
        counts = {len(refs) for refs in references}
        if len(counts) > 1:
            raise ValueError(f"every prediction needs the same number of references, got {sorted(counts)}")
        n_refs = counts.pop() if counts else 1
        transposed = [[refs[i] for refs in references] for i in range(n_refs)]
        bleu = sacrebleu.corpus_bleu(predictions, transposed, tokenize=tokenize, lowercase=lowercase)
        chrf = sacrebleu.metrics.CHRF(word_order=word_order, lowercase=lowercase).corpus_score(predictions, transposed)
        return {
            "bleu": bleu.score,
            "chrf": chrf.score,
            "counts": bleu.counts,
            "totals": bleu.totals,
            "precisions": bleu.precisions,
            "bp": bleu.bp,
            "sys_len": bleu.sys_len,
            "ref_len": bleu.ref_len,
        }
