"""Thin wrapper: `python scripts/convert.py --help` (same as the `tobigs-convert` console entry point).

    python scripts/convert.py --from-hf path/to/gpt2 --out gpt2-tobigs
    python scripts/convert.py --to-hf gpt2-tobigs --out gpt2-again
"""

import sys

from tobigs_transformer.convert.cli import main

if __name__ == "__main__":
    sys.exit(main())
