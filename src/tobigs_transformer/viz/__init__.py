"""Seeing inside the Transformer: PNG figures of attention maps, positional encodings, softmax saturation and loss
curves (matplotlib, headless). Command line: `tobigs-viz` (see `tobigs_transformer.viz.cli`)."""

from .attention_maps import (
    KINDS,
    AttentionMaps,
    compute_attention_maps,
    ensure_eager,
    load_for_attention,
    plot_attention,
    save_attention_figures,
    token_label,
    token_labels,
)
from .common import panel_axes, save_figure
from .curves import LogHistory, find_trainer_state, plot_loss_curves, read_log_history
from .fonts import configure_fonts, find_hangul_font
from .positional import (
    pairwise_distances,
    plot_distance_profile,
    plot_positional_encoding,
    position_table_from_model,
    sinusoidal_distance_formula,
    sinusoidal_encoding,
)
from .softmax_saturation import plot_softmax_saturation, saturation_statistics

__all__ = [
    "KINDS",
    "AttentionMaps",
    "LogHistory",
    "compute_attention_maps",
    "configure_fonts",
    "ensure_eager",
    "find_hangul_font",
    "find_trainer_state",
    "load_for_attention",
    "pairwise_distances",
    "panel_axes",
    "plot_attention",
    "plot_distance_profile",
    "plot_loss_curves",
    "plot_positional_encoding",
    "plot_softmax_saturation",
    "position_table_from_model",
    "read_log_history",
    "save_attention_figures",
    "save_figure",
    "saturation_statistics",
    "sinusoidal_distance_formula",
    "sinusoidal_encoding",
    "token_label",
    "token_labels",
]
