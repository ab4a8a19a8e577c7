"""Thin wrapper: `python scripts/run_mlm.py --help` (same as `python -m tobigs_transformer.training.run_mlm`)."""

from tobigs_transformer.training.run_mlm import main

if __name__ == "__main__":
    main()
