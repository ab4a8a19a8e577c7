"""Thin wrapper: `python scripts/run_translation.py --help` (same as `python -m tobigs_transformer.training.run_translation`)."""

from tobigs_transformer.training.run_translation import main

if __name__ == "__main__":
    main()
