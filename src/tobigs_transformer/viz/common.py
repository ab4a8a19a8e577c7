"""Figure plumbing shared by the plotting modules: headless figures, panel bookkeeping, saving.

Figures are made with `matplotlib.figure.Figure` directly (never pyplot), so nothing needs a display or a GUI backend
and no global figure state leaks between calls.
"""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .fonts import configure_fonts

PANEL = "panel"  # label of every axes that shows data (colour bars and legends-only axes do not have it)


def new_figure(width: float, height: float) -> Figure:
    """A headless figure with constrained layout and a Hangul-capable font configured."""
    configure_fonts()
    return Figure(figsize=(width, height), layout="constrained")


def mark_panel(ax: Axes) -> Axes:
    ax.set_label(PANEL)
    return ax


def panel_axes(fig: Figure) -> list[Axes]:
    """The data panels of a figure made by this package (colour bars excluded)."""
    return [ax for ax in fig.axes if ax.get_label() == PANEL]


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write `fig` as PNG (parent folders are created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    if not path.exists() or path.stat().st_size == 0:
        raise OSError(f"matplotlib wrote no data to {path}")
    return path


def grid_shape(n: int, max_cols: int = 4) -> tuple[int, int]:
    cols = min(n, max_cols)
    return (n + cols - 1) // cols, cols
