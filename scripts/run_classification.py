"""Thin wrapper: `python scripts/run_classification.py --help` (same as `python -m tobigs_transformer.training.run_classification`)."""

from tobigs_transformer.training.run_classification import main

if __name__ == "__main__":
    main()
