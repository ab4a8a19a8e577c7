"""Positional-encoding pictures: the sinusoid table matches §3.5, its distance matrix is symmetric with a zero diagonal
and matches the closed form, and a model's own (learned or fixed) table can be read and drawn."""

import math

import numpy as np
import pytest
from tiny import tiny_config

from tobigs_transformer import TobigsModel
from tobigs_transformer.model.positional_encoding import sinusoidal_table
from tobigs_transformer.viz import (
    pairwise_distances,
    panel_axes,
    plot_distance_profile,
    plot_positional_encoding,
    position_table_from_model,
    save_figure,
    sinusoidal_distance_formula,
    sinusoidal_encoding,
)


def _pe_by_hand(pos: int, i: int, dim: int) -> float:
    angle = pos / 10000 ** (2 * (i // 2) / dim)
    return math.sin(angle) if i % 2 == 0 else math.cos(angle)


def test_table_matches_the_paper_formula():
    table = sinusoidal_encoding(10, 10)
    expected = np.array([[_pe_by_hand(p, i, 10) for i in range(10)] for p in range(10)])
    np.testing.assert_allclose(table, expected, atol=1e-6)


def test_lecture_distance_matrix_10_by_10():
    table = sinusoidal_encoding(10, 10)
    distances = pairwise_distances(table)
    assert distances.shape == (10, 10)
    np.testing.assert_array_equal(distances, distances.T)
    np.testing.assert_array_equal(np.diag(distances), 0.0)
    by_hand = np.array([[math.sqrt(sum((_pe_by_hand(p, i, 10) - _pe_by_hand(q, i, 10)) ** 2 for i in range(10)))
                         for q in range(10)] for p in range(10)])
    np.testing.assert_allclose(distances, by_hand, atol=1e-5)
    np.testing.assert_allclose(distances, sinusoidal_distance_formula(10, 10), atol=1e-5)


@pytest.mark.parametrize("layout", ["interleaved", "concatenated"])
def test_distance_depends_only_on_the_offset(layout):
    distances = pairwise_distances(sinusoidal_encoding(40, 16, layout))
    for k in range(1, 40):
        diagonal = np.diagonal(distances, k)
        np.testing.assert_allclose(diagonal, diagonal[0], atol=1e-5)  # Toeplitz
    np.testing.assert_allclose(distances, sinusoidal_distance_formula(40, 16), atol=1e-5)


def test_other_metrics():
    table = sinusoidal_encoding(8, 6)
    np.testing.assert_allclose(pairwise_distances(table, "dot"), table @ table.T, atol=1e-10)
    cosine = pairwise_distances(table, "cosine")
    np.testing.assert_allclose(np.diag(cosine), 0.0, atol=1e-12)
    assert cosine.min() >= -1e-12 and cosine.max() <= 2 + 1e-12
    with pytest.raises(ValueError, match="metric"):
        pairwise_distances(table, "manhattan")
    with pytest.raises(ValueError, match="even dim"):
        sinusoidal_distance_formula(4, 5)


def test_model_tables():
    sinusoidal = TobigsModel(tiny_config("transformer-base"))
    table = position_table_from_model(sinusoidal, num_positions=10)
    np.testing.assert_allclose(table, sinusoidal_table(64, 32)[:10].numpy())
    bart = TobigsModel(tiny_config("bart-base"))
    learned = position_table_from_model(bart, stack="decoder")
    embeddings = bart.decoder.embeddings.position_embeddings
    assert learned.shape == (64, 32)  # BART's 2 reserved rows dropped
    np.testing.assert_array_equal(learned, embeddings.weight[2:].detach().numpy())
    gpt = TobigsModel(tiny_config("gpt2"))
    assert position_table_from_model(gpt).shape == (64, 32)
    with pytest.raises(ValueError, match="no position table"):
        position_table_from_model(gpt, stack="encoder")


def test_figures(tmp_path):
    fig = plot_positional_encoding(sinusoidal_encoding(10, 10))
    panels = panel_axes(fig)
    assert len(panels) == 2
    assert len(panels[1].texts) == 100  # the lecture's 10 x 10 matrix, annotated
    path = save_figure(fig, tmp_path / "pe.png")
    assert path.stat().st_size > 10_000
    learned = position_table_from_model(TobigsModel(tiny_config("gpt2")))
    fig = plot_distance_profile({"sinusoidal": sinusoidal_encoding(64, 32), "learned": learned})
    assert len(panel_axes(fig)) == 1 and len(panel_axes(fig)[0].lines) == 2
    assert save_figure(fig, tmp_path / "profile.png").stat().st_size > 5_000
