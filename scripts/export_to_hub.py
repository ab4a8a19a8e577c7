"""Thin wrapper: `python scripts/export_to_hub.py --help` (same as the `tobigs-export` console entry point)."""

import sys

from tobigs_transformer.hub.cli import main


if __name__ == "__main__":
    sys.exit(main())
