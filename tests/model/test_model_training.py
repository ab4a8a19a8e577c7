"""Learning: every head lowers its loss in one step; checkpointing changes nothing; losses scale like transformers'."""

import pytest
import torch
from tiny import tiny_config

import tobigs_transformer as tt


def _batch(model_class, config):
    ids = torch.randint(3, 98, (4, 8))
    if model_class is tt.TobigsForMultipleChoice:
        return {"input_ids": torch.randint(3, 98, (4, 2, 8)), "labels": torch.tensor([0, 1, 1, 0])}
    batch = {"input_ids": ids}
    if model_class in (tt.TobigsForCausalLM, tt.TobigsForMaskedLM, tt.TobigsForConditionalGeneration):
        batch["labels"] = ids.clone()
    if model_class is tt.TobigsForPreTraining:
        batch.update(labels=ids.masked_fill(torch.rand(4, 8) > 0.3, -100), next_sentence_label=torch.tensor([0, 1, 0, 1]))
    if model_class in (tt.TobigsForSequenceClassification, tt.TobigsForNextSentencePrediction):
        batch["labels"] = torch.tensor([0, 1, 1, 0])
    if model_class is tt.TobigsForTokenClassification:
        batch["labels"] = torch.randint(0, 2, (4, 8))
    if model_class is tt.TobigsForQuestionAnswering:
        batch.update(start_positions=torch.tensor([1, 2, 3, 4]), end_positions=torch.tensor([2, 3, 4, 5]))
    if config.eos_token_id is not None and config.is_encoder_decoder:
        batch["input_ids"][:, -1] = config.eos_token_id
    return batch


HEADS = [
    (tt.TobigsForConditionalGeneration, "transformer-base"),
    (tt.TobigsForConditionalGeneration, "bart-base"),
    (tt.TobigsForCausalLM, "gpt"),
    (tt.TobigsForCausalLM, "gpt2"),
    (tt.TobigsForMaskedLM, "bert-base"),
    (tt.TobigsForPreTraining, "bert-base"),
    (tt.TobigsForNextSentencePrediction, "bert-base"),
    (tt.TobigsForSequenceClassification, "bert-base"),
    (tt.TobigsForSequenceClassification, "gpt2"),
    (tt.TobigsForSequenceClassification, "bart-base"),
    (tt.TobigsForTokenClassification, "bert-base"),
    (tt.TobigsForQuestionAnswering, "bert-base"),
    (tt.TobigsForMultipleChoice, "bert-base"),
]


@pytest.mark.parametrize("model_class, preset", HEADS, ids=lambda x: getattr(x, "__name__", x))
def test_one_step_lowers_the_loss(model_class, preset):
    config = tiny_config(preset, dropout=0.0, attention_dropout=0.0, label_smoothing=0.0, num_labels=2)
    model = model_class(config)
    batch = _batch(model_class, config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    before = model(**batch).loss
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = model(**batch).loss
    assert after < before


@pytest.mark.parametrize("model_class, preset", HEADS[:6], ids=lambda x: getattr(x, "__name__", x))
def test_gradient_checkpointing_gives_the_same_gradients(model_class, preset):
    config = tiny_config(preset, dropout=0.0, attention_dropout=0.0)
    model = model_class(config).train()
    batch = _batch(model_class, config)

    def grads():
        model.zero_grad()
        model(**batch).loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain = grads()
    model.activation_checkpointing_enable()
    assert model.model.get_submodule("decoder" if model.config.has_decoder else "encoder").layers[0].gradient_checkpointing
    checkpointed = grads()
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], rtol=1e-6, atol=1e-6)


def test_labels_build_decoder_inputs_and_ignore_minus_100():
    model = tt.TobigsForConditionalGeneration(tiny_config("transformer-base", label_smoothing=0.0)).eval()
    source, labels = torch.randint(3, 98, (2, 6)), torch.randint(3, 98, (2, 5))
    labels[0, 3:] = -100
    decoder_input_ids = tt.shift_tokens_right(labels, 0, 1)
    assert decoder_input_ids[:, 0].tolist() == [1, 1] and decoder_input_ids[0, 4] == 0
    assert torch.equal(decoder_input_ids[1, 1:], labels[1, :-1])
    out = model(source, labels=labels)
    logits = model(source, decoder_input_ids=decoder_input_ids).logits
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 99), labels.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(out.loss, expected)


def test_label_smoothing_from_config():
    config = tiny_config("transformer-base")
    assert config.label_smoothing == 0.1
    model = tt.TobigsForConditionalGeneration(config).eval()
    source, labels = torch.randint(3, 98, (2, 6)), torch.randint(3, 98, (2, 5))
    out = model(source, labels=labels)
    expected = torch.nn.functional.cross_entropy(out.logits.reshape(-1, 99), labels.reshape(-1), label_smoothing=0.1)
    torch.testing.assert_close(out.loss, expected)


def test_causal_lm_loss_predicts_the_next_token():
    model = tt.TobigsForCausalLM(tiny_config("gpt2")).eval()
    ids = torch.randint(3, 98, (2, 7))
    out = model(ids, labels=ids)
    expected = torch.nn.functional.cross_entropy(out.logits[:, :-1].reshape(-1, 99), ids[:, 1:].reshape(-1))
    torch.testing.assert_close(out.loss, expected)


def test_num_items_in_batch_sums_instead_of_averaging():
    # What Trainer passes under gradient accumulation / DDP: the loss must be sum / num_items_in_batch.
    model = tt.TobigsForCausalLM(tiny_config("gpt2")).eval()
    ids = torch.randint(3, 98, (2, 7))
    mean = model(ids, labels=ids).loss
    summed = model(ids, labels=ids, num_items_in_batch=torch.tensor(24)).loss
    torch.testing.assert_close(summed, mean * 12 / 24)


# Compiling a training forward takes 10-30 s on 2 cores: slow (the default run keeps
# test_shift_labels_compile_fullgraph, a compiled gpt2 training forward with shift_labels).
@pytest.mark.slow
@pytest.mark.parametrize("model_class, preset", [(tt.TobigsForCausalLM, "gpt2"),
                                                 (tt.TobigsForConditionalGeneration, "bart-base")])
def test_training_forward_compiles_fullgraph(model_class, preset):
    model = model_class(tiny_config(preset, dropout=0.0, attention_dropout=0.0)).train()
    ids = torch.randint(3, 98, (2, 8))
    eager = model(ids, labels=ids).loss
    compiled = torch.compile(model, fullgraph=True)(ids, labels=ids).loss  # no graph break allowed
    compiled.backward()
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model_class, preset", [(tt.TobigsForCausalLM, "gpt2"), (tt.TobigsForMaskedLM, "bert-base"),
                                                 (tt.TobigsForConditionalGeneration, "transformer-base"),
                                                 (tt.TobigsForTokenClassification, "bert-base")],
                         ids=lambda x: getattr(x, "__name__", x))
@pytest.mark.parametrize("num_items_in_batch", [None, torch.tensor(0)])
def test_labels_all_ignored_give_zero_loss_and_a_finite_step(model_class, preset, num_items_in_batch):
    # A sum over no tokens: 0.0 with a zero gradient (mean reduction would be 0/0 = NaN and poison Adam's state).
    model = model_class(tiny_config(preset, num_labels=2)).train()
    ids = torch.randint(3, 98, (2, 6))
    kwargs = {} if num_items_in_batch is None or model_class is tt.TobigsForTokenClassification else \
        {"num_items_in_batch": num_items_in_batch}
    loss = model(ids, labels=torch.full((2, 6), -100), **kwargs).loss
    assert loss.item() == 0.0
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.count_nonzero(g) == 0 for g in grads)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    optimizer.step()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    # A real batch afterwards still trains.
    model(ids, labels=ids.clamp(max=1) if model_class is tt.TobigsForTokenClassification else ids).loss.backward()
    optimizer.step()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_shift_labels_compile_fullgraph():
    model = tt.TobigsForCausalLM(tiny_config("gpt2", dropout=0.0, attention_dropout=0.0)).train()
    ids = torch.randint(3, 98, (2, 8))
    shift_labels = torch.cat([ids[:, 1:], ids[:, :1]], dim=1)
    eager = model(ids, shift_labels=shift_labels).loss
    compiled = torch.compile(model, fullgraph=True)(ids, shift_labels=shift_labels).loss
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-5)
