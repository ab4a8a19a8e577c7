#!/usr/bin/env python
"""Same as the `tobigs-viz` command: attention maps, positional encodings, softmax saturation, loss curves.

    python scripts/viz.py attention runs/ko-en --text "투빅아, 나는 너를 많이 사랑해." --target "Tobigs, I love you so much."
    python scripts/viz.py --help
"""

from tobigs_transformer.viz.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
