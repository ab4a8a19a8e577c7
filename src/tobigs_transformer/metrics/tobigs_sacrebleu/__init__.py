"""Package marker so that ``tobigs_sacrebleu.py`` is installed with the wheel; load it with ``evaluate.load(<this folder>)``."""
