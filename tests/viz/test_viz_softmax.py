"""Softmax saturation: unscaled scores have standard deviation sqrt(d_k) and a collapsing softmax entropy and
gradient; dividing by sqrt(d_k) keeps both steady."""

import numpy as np

from tobigs_transformer.viz import panel_axes, plot_softmax_saturation, save_figure, saturation_statistics
from tobigs_transformer.viz.softmax_saturation import summary

D_KS = (4, 64, 1024)


def test_statistics():
    stats = saturation_statistics(D_KS, num_keys=16, num_queries=128)
    unscaled, scaled = stats["unscaled"], stats["scaled"]
    np.testing.assert_allclose(unscaled["score_std"], np.sqrt(D_KS), rtol=0.15)
    np.testing.assert_allclose(scaled["score_std"], 1.0, rtol=0.15)
    assert unscaled["entropy"][0] > unscaled["entropy"][1] > unscaled["entropy"][2]
    assert unscaled["entropy"][2] < 0.3 * scaled["entropy"][2]
    assert max(scaled["entropy"]) - min(scaled["entropy"]) < 0.3
    assert all(e <= stats["max_entropy"] + 1e-9 for e in unscaled["entropy"] + scaled["entropy"])
    assert unscaled["jacobian_norm"][2] < 0.3 * scaled["jacobian_norm"][2]
    assert unscaled["max_weight"][2] > 0.8
    assert "scores" not in summary(stats)["scaled"]


def test_figure(tmp_path):
    fig = plot_softmax_saturation(saturation_statistics(D_KS, num_keys=8, num_queries=32))
    assert len(panel_axes(fig)) == 4
    assert save_figure(fig, tmp_path / "softmax.png").stat().st_size > 20_000
