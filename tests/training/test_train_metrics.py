"""The shipped BLEU/chrF metric module, the paper's learning-rate schedule and the artefact writers."""

import json
import math
import os

import evaluate
import pytest
import sacrebleu
import torch

from tobigs_transformer.metrics import SACREBLEU_PATH, load_sacrebleu
from tobigs_transformer.training import (
    TobigsSeq2SeqTrainingArguments,
    TobigsTrainingArguments,
    get_noam_schedule,
    noam_factor,
    plot_loss_curve,
    write_metrics_json,
)
from tobigs_transformer.training.arguments import parse_args, ModelArguments, DataArguments


HYPS = ["the cat sat on the mat", "a quick brown fox jumps", "I love you very much"]
REFS = ["the cat sat on a mat", "the quick brown fox jumped", "I love you very much"]


def test_bleu_is_100_on_identical_text():
    out = load_sacrebleu().compute(predictions=REFS, references=[[r] for r in REFS])
    assert out["bleu"] == pytest.approx(100.0)
    assert out["chrf"] == pytest.approx(100.0)


def test_matches_sacrebleu_directly():
    out = evaluate.load(SACREBLEU_PATH).compute(predictions=HYPS, references=[[r] for r in REFS])
    assert out["bleu"] == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score, abs=1e-9)
    assert out["chrf"] == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score, abs=1e-9)
    assert 0 < out["bleu"] < 100


def test_multiple_references_and_module_file_is_shipped():
    assert os.path.isfile(os.path.join(SACREBLEU_PATH, "tobigs_sacrebleu.py"))
    refs2 = ["the cat is on the mat", "a fast brown fox jumps", "I love you so much"]
    out = load_sacrebleu().compute(predictions=HYPS, references=[[a, b] for a, b in zip(REFS, refs2)])
    assert out["bleu"] == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS, refs2]).score, abs=1e-9)


def test_noam_formula_and_peak():
    d, w = 512, 4000
    assert noam_factor(w, d, w) == pytest.approx(d ** -0.5 * w ** -0.5)
    assert noam_factor(100, d, w) == pytest.approx(d ** -0.5 * 100 * w ** -1.5)  # warm-up: linear
    assert noam_factor(10 * w, d, w) == pytest.approx(d ** -0.5 * (10 * w) ** -0.5)  # decay: inverse sqrt
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = get_noam_schedule(opt, d_model=64, warmup_steps=10)
    lrs = []
    for _ in range(30):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = [2.0 * 64 ** -0.5 * min(k ** -0.5, k * 10 ** -1.5) for k in range(1, 31)]
    assert lrs == pytest.approx(expected)
    assert max(lrs) == pytest.approx(lrs[9])
    with pytest.raises(ValueError, match="warmup_steps"):
        get_noam_schedule(opt, d_model=64, warmup_steps=0)


@pytest.mark.parametrize("cls", [TobigsTrainingArguments, TobigsSeq2SeqTrainingArguments])
@pytest.mark.parametrize("name", ["noam", "transformer", "linear", "cosine"])
def test_lr_scheduler_type_accepts_the_paper_schedule(tmp_path, cls, name):
    _, _, args = parse_args((ModelArguments, DataArguments, cls),
                            ["--output_dir", str(tmp_path), "--lr_scheduler_type", name, "--use_cpu"])
    assert str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)) == name


def test_unknown_scheduler_fails(tmp_path):
    with pytest.raises(ValueError, match="not a known schedule"):
        TobigsTrainingArguments(output_dir=str(tmp_path), lr_scheduler_type="bogus")


def test_noam_inside_trainer(tmp_path):
    from tobigs_transformer import TobigsConfig, TobigsForCausalLM
    from tobigs_transformer.training import TobigsTrainer

    model = TobigsForCausalLM(TobigsConfig.from_preset("gpt2", vocab_size=50, d_model=16, decoder_layers=1,
                                                       decoder_attention_heads=2, decoder_ffn_dim=20,
                                                       max_position_embeddings=16, bos_token_id=1, eos_token_id=1,
                                                       pad_token_id=0))
    args = TobigsTrainingArguments(output_dir=str(tmp_path), lr_scheduler_type="noam", warmup_steps=4, learning_rate=1.0,
                                   use_cpu=True, report_to="none", max_steps=8)
    trainer = TobigsTrainer(model=model, args=args)
    trainer.create_optimizer_and_scheduler(num_training_steps=8)
    lrs = []
    for _ in range(8):
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    assert lrs == pytest.approx([noam_factor(k, 16, 4) for k in range(1, 9)])


def test_metrics_json_and_plot(tmp_path):
    history = [{"loss": 3.0 - 0.1 * s, "learning_rate": 1e-3, "step": s} for s in range(1, 11)]
    history.append({"eval_loss": 2.5, "step": 10})
    png = plot_loss_curve(history, str(tmp_path / "loss_curve.png"), "t")
    assert png and os.path.getsize(png) > 1000
    path = write_metrics_json(str(tmp_path), {"eval_loss": 2.5, "bad": float("nan")}, history, lm=True)
    data = json.load(open(path))
    assert data["metrics"]["eval_perplexity"] == pytest.approx(math.exp(2.5))
    assert data["metrics"]["bad"] == "nan" and len(data["log_history"]) == 11
