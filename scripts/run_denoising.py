"""Thin wrapper: `python scripts/run_denoising.py --help` (same as `python -m tobigs_transformer.training.run_denoising`)."""

from tobigs_transformer.training.run_denoising import main

if __name__ == "__main__":
    main()
