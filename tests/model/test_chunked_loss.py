"""The chunked LM-head loss (chunked_loss.py): the plain path's loss and every gradient without the logits, and the
rule for when logits are still returned (eval mode, `return_logits=True`, no labels), Trainer included."""

import pytest
import torch
from tiny import tiny_config
from torch.nn.functional import cross_entropy, linear

import tobigs_transformer as tt
from tobigs_transformer.model.chunked_loss import linear_cross_entropy_sum
from tobigs_transformer.model.losses import chunked_token_cross_entropy, token_cross_entropy

TOL = dict(rtol=1e-5, atol=1e-5)


def _leaves(n=23, d=16, v=41, bias=True, dtype=torch.float32):
    hidden = torch.randn(n, d, dtype=dtype, requires_grad=True)
    weight = torch.randn(v, d, dtype=dtype, requires_grad=True)
    b = torch.randn(v, dtype=dtype, requires_grad=True) if bias else None
    targets = torch.randint(0, v, (n,))
    targets[::4] = -100
    return hidden, weight, b, targets


def _grads(loss, *tensors):
    return torch.autograd.grad(loss, [t for t in tensors if t is not None])


@pytest.mark.parametrize("chunk_size", [1, 6, 23, 100])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("bias", [True, False])
def test_function_equals_linear_then_cross_entropy(chunk_size, label_smoothing, bias):
    hidden, weight, b, targets = _leaves(bias=bias)
    plain = cross_entropy(linear(hidden, weight, b), targets, reduction="sum", label_smoothing=label_smoothing)
    chunked = linear_cross_entropy_sum(hidden, weight, b, targets, chunk_size, label_smoothing=label_smoothing)
    torch.testing.assert_close(chunked, plain, **TOL)
    for got, expected in zip(_grads(chunked, hidden, weight, b), _grads(plain, hidden, weight, b)):
        torch.testing.assert_close(got, expected, **TOL)


def test_custom_ignore_index_and_all_ignored():
    hidden, weight, b, targets = _leaves()
    targets = targets.masked_fill(targets == -100, 7).masked_fill(torch.arange(23) % 3 == 0, -1)
    plain = cross_entropy(linear(hidden, weight, b), targets, ignore_index=-1, reduction="sum")
    chunked = linear_cross_entropy_sum(hidden, weight, b, targets, 5, ignore_index=-1)
    torch.testing.assert_close(chunked, plain, **TOL)
    for got, expected in zip(_grads(chunked, hidden, weight, b), _grads(plain, hidden, weight, b)):
        torch.testing.assert_close(got, expected, **TOL)
    nothing = linear_cross_entropy_sum(hidden, weight, b, torch.full((23,), -100), 5)
    assert nothing.item() == 0.0
    assert all(torch.count_nonzero(g) == 0 for g in _grads(nothing, hidden, weight, b))


@pytest.mark.parametrize("num_items_in_batch", [None, torch.tensor(40), 40, torch.tensor(0)])
def test_normalisation_matches_token_cross_entropy(num_items_in_batch):
    hidden, weight, b, targets = _leaves()
    kwargs = dict(num_items_in_batch=num_items_in_batch, label_smoothing=0.1)
    plain = token_cross_entropy(linear(hidden, weight, b), targets, 41, **kwargs)
    chunked = chunked_token_cross_entropy(hidden, weight, b, targets, 4, **kwargs)
    torch.testing.assert_close(chunked, plain, **TOL)
    for got, expected in zip(_grads(chunked, hidden, weight, b), _grads(plain, hidden, weight, b)):
        torch.testing.assert_close(got, expected, **TOL)


def test_backward_twice_with_retain_graph_gives_the_same_gradients():
    hidden, weight, b, targets = _leaves()
    loss = 3.0 * linear_cross_entropy_sum(hidden, weight, b, targets, 5)
    first = torch.autograd.grad(loss, [hidden, weight, b], retain_graph=True)
    second = torch.autograd.grad(loss, [hidden, weight, b])
    for x, y in zip(first, second):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_no_grad_gives_the_same_sum():
    hidden, weight, b, targets = _leaves()
    with torch.no_grad():
        plain = cross_entropy(linear(hidden, weight, b), targets, reduction="sum")
        torch.testing.assert_close(linear_cross_entropy_sum(hidden, weight, b, targets, 5), plain, **TOL)


def test_bfloat16_keeps_dtypes_and_agrees_with_the_plain_path():
    hidden, weight, b, targets = _leaves(dtype=torch.bfloat16)
    plain = cross_entropy(linear(hidden, weight, b).float(), targets, reduction="sum")
    chunked = linear_cross_entropy_sum(hidden, weight, b, targets, 5)
    assert chunked.dtype == torch.float32
    torch.testing.assert_close(chunked, plain, rtol=1e-2, atol=1e-2)
    for got, expected, leaf in zip(_grads(chunked, hidden, weight, b), _grads(plain, hidden, weight, b),
                                   (hidden, weight, b)):
        assert got.dtype == leaf.dtype
        torch.testing.assert_close(got.float(), expected.float(), rtol=5e-2, atol=5e-2)


def test_bad_chunk_size_names_the_value():
    hidden, weight, b, targets = _leaves()
    with pytest.raises(ValueError, match=r"chunk_size must be >= 1 token, got 0"):
        linear_cross_entropy_sum(hidden, weight, b, targets, 0)
    with pytest.raises(ValueError, match=r"loss_chunk_size must be >= 0, got -2"):
        tiny_config("gpt2", loss_chunk_size=-2)


# ---- the models ---------------------------------------------------------------------------------------------------

MODELS = [
    (tt.TobigsForCausalLM, "gpt2", {}),
    (tt.TobigsForCausalLM, "gpt", {}),
    (tt.TobigsForConditionalGeneration, "bart-base", dict(lm_head_bias=True)),  # BART's final_logits_bias
    (tt.TobigsForConditionalGeneration, "transformer-base", {}),  # label smoothing 0.1, shared embeddings
    (tt.TobigsForMaskedLM, "bert-base", {}),  # tied decoder with its own bias
    (tt.TobigsForPreTraining, "bert-base", {}),
]


def _model(cls, preset, chunk=5, **overrides):
    config = tiny_config(preset, dropout=0.0, attention_dropout=0.0, loss_chunk_size=chunk, **overrides)
    return cls(config).train()


def _batch(cls):
    ids = torch.randint(3, 98, (3, 9))
    labels = ids.clone()
    labels[0, 2:6] = -100
    if cls in (tt.TobigsForMaskedLM, tt.TobigsForPreTraining):
        labels = labels.masked_fill(torch.rand(3, 9) > 0.4, -100)
    batch = dict(input_ids=ids, labels=labels)
    if cls is tt.TobigsForPreTraining:
        batch["next_sentence_label"] = torch.tensor([0, 1, 0])
    return batch


def _logits(out):
    return out.prediction_logits if isinstance(out, tt.model.modeling_tobigs.TobigsForPreTrainingOutput) else out.logits


def _loss_and_grads(model, call=None, **batch):
    model.zero_grad()
    out = (model if call is None else call)(**batch)
    out.loss.backward()
    return out, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("cls, preset, overrides", MODELS, ids=lambda x: getattr(x, "__name__", str(x)))
def test_training_step_without_logits_equals_the_plain_path(cls, preset, overrides):
    model = _model(cls, preset, **overrides)
    batch = _batch(cls)
    chunked, chunked_grads = _loss_and_grads(model, **batch)
    plain, plain_grads = _loss_and_grads(model, **batch, return_logits=True)
    assert _logits(chunked) is None and _logits(plain) is not None
    torch.testing.assert_close(chunked.loss, plain.loss, **TOL)
    assert chunked_grads.keys() == plain_grads.keys()
    for name in plain_grads:  # the tied embedding's gradient (input + output use) included
        torch.testing.assert_close(chunked_grads[name], plain_grads[name], **TOL, msg=name)


@pytest.mark.parametrize("cls, preset", [(tt.TobigsForCausalLM, "gpt2"), (tt.TobigsForConditionalGeneration,
                                                                         "bart-base"), (tt.TobigsForMaskedLM,
                                                                                        "bert-base")])
def test_num_items_in_batch_reaches_the_chunked_loss(cls, preset):
    model = _model(cls, preset)
    batch = _batch(cls)
    count = torch.tensor(50)
    chunked, chunked_grads = _loss_and_grads(model, **batch, num_items_in_batch=count)
    plain, plain_grads = _loss_and_grads(model, **batch, num_items_in_batch=count, return_logits=True)
    torch.testing.assert_close(chunked.loss, plain.loss, **TOL)
    for name in plain_grads:
        torch.testing.assert_close(chunked_grads[name], plain_grads[name], **TOL, msg=name)


def test_when_logits_are_returned():
    model = _model(tt.TobigsForCausalLM, "gpt2")
    ids = torch.randint(3, 98, (2, 7))
    train_chunked = model(ids, labels=ids)
    assert train_chunked.logits is None
    assert model(ids).logits.shape == (2, 7, 99)  # no labels: logits, nothing to chunk
    assert model(ids, labels=ids, return_logits=True).logits.shape == (2, 7, 99)
    assert not model.uses_chunked_loss(None, logits_to_keep=1)  # a slice of the logits asked for: plain path
    model.eval()
    evaluated = model(ids, labels=ids)
    assert evaluated.logits.shape == (2, 7, 99)  # eval mode: logits, for compute_metrics and friends
    loss_only = model(ids, labels=ids, return_logits=False)
    assert loss_only.logits is None
    torch.testing.assert_close(loss_only.loss, evaluated.loss, **TOL)
    torch.testing.assert_close(train_chunked.loss, evaluated.loss, **TOL)
    off = _model(tt.TobigsForCausalLM, "gpt2", chunk=0)
    assert off(ids, labels=ids).logits.shape == (2, 7, 99)


def test_a_replaced_loss_function_gets_logits():
    model = _model(tt.TobigsForCausalLM, "gpt2")
    seen = []

    def custom(logits, labels, vocab_size, **kwargs):
        seen.append(logits.shape)
        return logits.float().mean()

    model.loss_function = custom
    ids = torch.randint(3, 98, (2, 7))
    out = model(ids, labels=ids)
    assert seen == [(2, 7, 99)] and out.logits is not None
    torch.testing.assert_close(out.loss, out.logits.mean())


def test_trainer_evaluate_and_predict_still_see_logits(tmp_path):
    from transformers import Trainer, TrainingArguments

    model = _model(tt.TobigsForCausalLM, "gpt2", chunk=4)
    ids = torch.randint(3, 98, (6, 8))
    rows = [{"input_ids": row, "labels": row} for row in ids]
    seen = {}

    def compute_metrics(prediction):
        seen["shape"] = prediction.predictions.shape
        return {"mean_logit": float(prediction.predictions.mean())}

    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=3, per_device_eval_batch_size=3,
                             max_steps=2, report_to=[], use_cpu=True, save_strategy="no", logging_strategy="no")
    trainer = Trainer(model=model, args=args, train_dataset=rows, eval_dataset=rows, compute_metrics=compute_metrics)
    trainer.train()  # training steps run the chunked loss (logits None)
    metrics = trainer.evaluate()
    assert seen["shape"] == (6, 8, 99) and "eval_mean_logit" in metrics
    prediction = trainer.predict(rows)
    assert prediction.predictions.shape == (6, 8, 99)
    model.eval()
    with torch.no_grad():
        expected = torch.stack([model(row[None], labels=row[None]).loss for row in ids]).mean()
    torch.testing.assert_close(torch.tensor(prediction.metrics["test_loss"]), expected, **TOL)


@pytest.mark.slow
@pytest.mark.parametrize("cls, preset", [(tt.TobigsForCausalLM, "gpt2"), (tt.TobigsForConditionalGeneration,
                                                                         "bart-base"), (tt.TobigsForMaskedLM,
                                                                                        "bert-base")])
def test_compiled_fullgraph_equals_eager(cls, preset):
    model = _model(cls, preset, label_smoothing=0.1)
    batch = _batch(cls)
    eager, eager_grads = _loss_and_grads(model, **batch)
    compiled, compiled_grads = _loss_and_grads(model, torch.compile(model, fullgraph=True), **batch)
    assert compiled.logits is None
    torch.testing.assert_close(compiled.loss, eager.loss, **TOL)
    for name in eager_grads:
        torch.testing.assert_close(compiled_grads[name], eager_grads[name], **TOL, msg=name)
