"""The RNN/LSTM vs Transformer experiment: data, models, and a --quick end-to-end run (seconds)."""

import json

import numpy as np
import pytest
import torch

from tobigs_transformer import TobigsForConditionalGeneration
from tobigs_transformer.experiments import rnn_vs_transformer as exp


def test_batches_and_distances():
    generator = torch.Generator().manual_seed(0)
    source, decoder_input, labels = exp.make_batch(4, 6, "reverse", 10, generator)
    assert source.shape == (4, 6) and decoder_input.shape == labels.shape == (4, 7)
    assert torch.equal(labels[:, :6], source.flip(1)) and torch.all(labels[:, 6] == exp.EOS)
    assert torch.all(decoder_input[:, 0] == exp.BOS) and torch.equal(decoder_input[:, 1:], labels[:, :6])
    assert source.min() >= exp.FIRST_SYMBOL and source.max() < exp.FIRST_SYMBOL + 10
    np.testing.assert_array_equal(exp.dependency_distance(5, "copy"), [5] * 5)
    np.testing.assert_array_equal(exp.dependency_distance(5, "reverse"), [1, 3, 5, 7, 9])


@pytest.mark.parametrize("name", exp.MODELS)
def test_models(name):
    config = exp.ExperimentConfig.quick()
    model = exp.build_model(name, config, max_positions=20)
    source, decoder_input, _ = exp.make_batch(3, 5, "copy", config.num_symbols, torch.Generator().manual_seed(0))
    assert model(source, decoder_input).shape == (3, 6, config.vocab_size)
    assert model.last_encoder_state(model.embed(source)).shape == (3, config.hidden_size)
    if name == "transformer":
        assert isinstance(model.model, TobigsForConditionalGeneration)
        assert model.model.config.position_embedding_type == "sinusoidal"


def test_gradient_reaches_every_position_through_attention():
    config = exp.ExperimentConfig.quick(grad_length=12)
    for name in ("rnn", "transformer"):
        torch.manual_seed(0)
        model = exp.build_model(name, config, max_positions=20)
        norms = exp.gradient_norms(model, config, torch.Generator().manual_seed(0))["norm"]
        assert len(norms) == 12 and all(n > 0 for n in norms)
        if name == "rnn":  # the recurrence shrinks the gradient towards the first input
            assert norms[0] < norms[-1]


def test_invalid_config():
    with pytest.raises(ValueError, match="task"):
        exp.ExperimentConfig(task="sort").validate()
    with pytest.raises(ValueError, match="unknown models"):
        exp.ExperimentConfig(models=("gru",)).validate()
    with pytest.raises(ValueError, match="divisible"):
        exp.ExperimentConfig(hidden_size=30).validate()


def test_quick_run(tmp_path, capsys):
    threads = torch.get_num_threads()
    assert exp.main(["--quick", "--output_dir", str(tmp_path), "--models", "lstm,transformer"]) == 0
    assert torch.get_num_threads() == threads  # restored
    results = json.loads((tmp_path / "results.json").read_text())
    assert list(results["models"]) == ["lstm", "transformer"]
    config = results["config"]
    for entry in results["models"].values():
        assert entry["parameters"] > 0
        assert len(entry["train"]["loss"]) == len(entry["train"]["step"]) > 0
        assert set(entry["eval"]["accuracy_by_length"]) == {str(n) for n in config["eval_lengths"]}
        assert all(0.0 <= a <= 1.0 for a in entry["eval"]["accuracy_by_distance"])
        assert len(entry["gradient"]["norm"]) == config["grad_length"]
        assert entry["timing"]["length"] == config["timing_lengths"]
        assert all(s > 0 for s in entry["timing"]["seconds"])
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == ["accuracy_vs_distance.png", "gradient_vs_timestep.png", "rnn_vs_transformer.png",
                     "step_time_vs_length.png", "training_loss.png"]
    assert all((tmp_path / n).stat().st_size > 5_000 for n in names)
    assert "Transformer" in capsys.readouterr().out


def test_figures_have_four_panels(tmp_path):
    from tobigs_transformer.viz import panel_axes

    config = exp.ExperimentConfig.quick(models=("lstm-noattn",), steps=2)
    results = exp.run_experiment(config)
    panels = panel_axes(exp.summary_figure(results))
    assert len(panels) == 4 and all(ax.lines for ax in panels)
    paths = exp.make_figures(results, tmp_path)
    assert len(paths) == 5


def test_viz_cli_forwards_to_the_experiment(tmp_path):
    # `tobigs-viz experiment` (the previous release's name of `tobigs rnn-vs-transformer`, an alias for one release);
    # viz itself no longer imports experiments
    from tobigs_transformer.tooling import aliases

    assert aliases.viz(["experiment", "--quick", "--models", "rnn", "--output_dir", str(tmp_path)]) == 0
    assert (tmp_path / "results.json").exists()
