"""Thin wrapper: `python scripts/run_clm.py --help` (same as `python -m tobigs_transformer.training.run_clm`)."""

from tobigs_transformer.training.run_clm import main

if __name__ == "__main__":
    main()
