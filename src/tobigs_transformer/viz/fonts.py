"""A font that renders Hangul, so that Korean tokens on the axes are readable instead of empty boxes.

matplotlib's default font (DejaVu Sans) has no Hangul glyphs. `configure_fonts()` puts a Hangul-capable font *behind*
DejaVu Sans in ``font.family``: matplotlib (>= 3.6) falls back glyph by glyph, so Latin text keeps its usual look and
Korean syllables come from the second font. It looks, in order, for

1. a Hangul font matplotlib already knows (NanumGothic, Noto Sans CJK KR, Noto Sans KR, UnDotum, Baekmuk, Malgun
   Gothic, AppleGothic, ...), e.g. from the Debian/Ubuntu package ``fonts-nanum`` or ``fonts-noto-cjk``;
2. the NanumGothic files bundled with the pip package ``koreanize-matplotlib`` (found without importing it, so its
   global rcParams changes do not happen);
3. any other font file on the system whose cmap contains Hangul syllables.

When none is found it logs one warning saying how to install one; Korean tokens then render as boxes (the figure is
still written, its numbers unchanged).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from pathlib import Path

import matplotlib
from matplotlib import font_manager

logger = logging.getLogger(__name__)

HANGUL_PROBE = "한"  # U+D55C
# Families known to cover Hangul, best first.
HANGUL_FONT_FAMILIES = (
    "NanumGothic",
    "NanumBarunGothic",
    "Noto Sans CJK KR",
    "Noto Sans KR",
    "Noto Serif CJK KR",
    "Source Han Sans KR",
    "UnDotum",
    "Baekmuk Gulim",
    "Malgun Gothic",
    "AppleGothic",
    "Apple SD Gothic Neo",
    "Droid Sans Fallback",
)
INSTALL_HINT = (
    "install one with `pip install koreanize-matplotlib` (bundles NanumGothic) or a system package such as "
    "`apt-get install fonts-nanum`"
)


def font_has_glyph(path: str | os.PathLike, char: str = HANGUL_PROBE) -> bool:
    """Whether the font file at `path` maps `char` to a glyph."""
    try:
        from matplotlib import ft2font

        return ft2font.FT2Font(str(path)).get_char_index(ord(char)) != 0
    except Exception:  # unreadable or unsupported font file
        return False


def _bundled_font_files() -> list[Path]:
    """NanumGothic files shipped inside the `koreanize_matplotlib` package, if it is installed."""
    try:
        spec = importlib.util.find_spec("koreanize_matplotlib")
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    files = []
    for location in spec.submodule_search_locations:
        files += sorted(Path(location, "fonts").glob("*.ttf"))
    # The regular weight first.
    return sorted(files, key=lambda p: (p.stem != "NanumGothic", p.name))


def _known_family(families=HANGUL_FONT_FAMILIES) -> str | None:
    available = {entry.name: entry.fname for entry in font_manager.fontManager.ttflist}
    for family in families:
        if family in available and font_has_glyph(available[family]):
            return family
    return None


def _register(path: Path) -> str | None:
    if not font_has_glyph(path):
        return None
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()


@functools.lru_cache(maxsize=1)
def find_hangul_font() -> str | None:
    """The family name of a Hangul-capable font registered with matplotlib, or None (result cached)."""
    family = _known_family()
    if family:
        return family
    for path in _bundled_font_files():
        family = _register(path)
        if family:
            return family
    # Last resort: scan the system's font files for any font with Hangul.
    for path in font_manager.findSystemFonts():
        if Path(path).suffix.lower() in (".ttf", ".otf", ".ttc") and font_has_glyph(path):
            family = _register(Path(path))
            if family:
                return family
    return None


@functools.lru_cache(maxsize=1)
def configure_fonts() -> str | None:
    """Make matplotlib render Hangul: append a Hangul font to the sans-serif fallback chain.

    Returns the family used, or None (after one logged warning) when no Hangul font is installed."""
    family = find_hangul_font()
    if family is None:
        logger.warning("no font with Hangul glyphs was found, so Korean tokens will render as empty boxes; %s",
                       INSTALL_HINT)
        return None
    current = [f for f in matplotlib.rcParams["font.family"] if f not in ("sans-serif",)]
    chain = ["DejaVu Sans", family] + [f for f in current if f not in ("DejaVu Sans", family)]
    matplotlib.rcParams["font.family"] = chain
    matplotlib.rcParams["axes.unicode_minus"] = False
    logger.info("rendering Hangul with %s", family)
    return family


def contains_hangul(text: str) -> bool:
    """Whether `text` has Hangul syllables or jamo."""
    return any("\uac00" <= ch <= "\ud7a3" or "\u1100" <= ch <= "\u11ff" or "\u3130" <= ch <= "\u318f" for ch in text)


__all__ = ["configure_fonts", "find_hangul_font", "font_has_glyph", "contains_hangul", "HANGUL_FONT_FAMILIES"]
