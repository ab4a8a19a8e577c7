"""Thin wrapper: `python scripts/demo.py --help` (same as `python -m tobigs_transformer.training.demo`)."""

from tobigs_transformer.training.demo import main

if __name__ == "__main__":
    main()
