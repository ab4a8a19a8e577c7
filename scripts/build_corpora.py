"""Thin wrapper: `python scripts/build_corpora.py --help` (same as the `tobigs-build-corpora` console entry point)."""

import sys

from tobigs_transformer.data.cli_build_corpora import main


if __name__ == "__main__":
    sys.exit(main())
