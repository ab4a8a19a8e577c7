"""Loss curves from a Trainer's trainer_state.json."""

import json

import pytest

from tobigs_transformer.viz import find_trainer_state, panel_axes, plot_loss_curves, read_log_history, save_figure


def _state(path, steps, with_lr=True):
    history = []
    for step in steps:
        entry = {"step": step, "epoch": step / 10, "loss": 5.0 / step}
        if with_lr:
            entry["learning_rate"] = 1e-3 * step / steps[-1]
        history.append(entry)
        if step % 20 == 0:
            history.append({"step": step, "eval_loss": 6.0 / step, "eval_bleu": step / 2, "eval_runtime": 0.1})
    history.append({"step": steps[-1], "train_runtime": 1.0, "train_loss": 1.0})
    path.mkdir(parents=True, exist_ok=True)
    (path / "trainer_state.json").write_text(json.dumps({"global_step": steps[-1], "log_history": history}))


def test_read_and_find(tmp_path):
    _state(tmp_path / "run" / "checkpoint-20", [10, 20])
    _state(tmp_path / "run" / "checkpoint-100", list(range(10, 101, 10)))
    _state(tmp_path / "run" / "checkpoint-9", [5, 9])
    assert find_trainer_state(tmp_path / "run") == tmp_path / "run" / "checkpoint-100" / "trainer_state.json"
    history = read_log_history(tmp_path / "run")
    assert history.name == "run"
    assert [s for s, _ in history.train_loss] == list(range(10, 101, 10))
    assert history.eval_loss == [(s, 6.0 / s) for s in (20, 40, 60, 80, 100)]
    assert list(history.eval_metrics) == ["eval_bleu"]
    assert len(history.learning_rate) == 10
    _state(tmp_path / "out", [10, 20])  # the output folder itself wins over its checkpoints
    assert read_log_history(tmp_path / "out" / "trainer_state.json", name="x").name == "x"


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="trainer_state.json"):
        find_trainer_state(tmp_path)
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": [{"step": 1, "epoch": 0.1}]}))
    with pytest.raises(ValueError, match="neither loss nor eval_loss"):
        read_log_history(tmp_path)
    with pytest.raises(ValueError, match="no runs"):
        plot_loss_curves([])


def test_figures(tmp_path):
    _state(tmp_path / "a", list(range(10, 101, 10)))
    _state(tmp_path / "b", list(range(10, 61, 10)), with_lr=False)
    fig = plot_loss_curves([tmp_path / "a", tmp_path / "b"])
    panels = panel_axes(fig)
    assert len(panels) == 2  # losses + learning rate
    assert len(panels[0].lines) == 4  # train + eval for both runs
    assert save_figure(fig, tmp_path / "loss.png").stat().st_size > 10_000
    assert len(panel_axes(plot_loss_curves([tmp_path / "b"]))) == 1  # no learning rate logged
