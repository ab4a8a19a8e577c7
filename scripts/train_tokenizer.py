"""Thin wrapper: `python scripts/train_tokenizer.py --help` (same as the `tobigs-train-tokenizer` console entry point)."""

import sys

from tobigs_transformer.data.cli_train_tokenizer import main


if __name__ == "__main__":
    sys.exit(main())
