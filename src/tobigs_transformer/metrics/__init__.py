"""Metric modules the package ships, so that evaluation works without the Hub.

``evaluate.load("sacrebleu")`` downloads a script from the Hub and fails offline; ``evaluate.load(SACREBLEU_PATH)``
loads the local module :mod:`tobigs_sacrebleu` (BLEU and chrF through ``sacrebleu``) instead.
"""

from __future__ import annotations

import os

#: Folder holding ``tobigs_sacrebleu.py``; pass it to ``evaluate.load``.
SACREBLEU_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tobigs_sacrebleu")


def load_sacrebleu(**kwargs):
    """``evaluate.load`` of the shipped BLEU/chrF module (works offline)."""
    import evaluate

    return evaluate.load(SACREBLEU_PATH, **kwargs)


__all__ = ["SACREBLEU_PATH", "load_sacrebleu"]
