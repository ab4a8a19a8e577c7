"""ELECTRA's joint pre-training (Clark et al. 2020): generator sized by `generator_size`, shared embeddings, the
sample drawn without gradient, loss = MLM + 50 * RTD, and the discriminator saved to load on its own."""

import pytest
import torch
from tiny import TINY

from tobigs_transformer import (
    TobigsConfig,
    TobigsElectraForPreTraining,
    TobigsForReplacedTokenDetection,
    TobigsForSequenceClassification,
)


def tiny_electra(**overrides) -> TobigsConfig:
    return TobigsConfig.from_preset("electra-small", **{**TINY, "embedding_size": 16, "dropout": 0.0,
                                                        "attention_dropout": 0.0, **overrides})


def _batch(vocab_size: int = 99):
    generator = torch.Generator().manual_seed(0)
    original = torch.randint(5, vocab_size, (3, 8), generator=generator)
    attention_mask = torch.ones_like(original)
    attention_mask[2, 6:] = 0
    masked = torch.zeros_like(original, dtype=torch.bool)
    masked[:, [1, 3, 4]] = True
    input_ids = original.masked_fill(masked, 4)  # [MASK]
    labels = original.masked_fill(~masked, -100)
    return dict(input_ids=input_ids, attention_mask=attention_mask, labels=labels), original


def test_generator_is_a_fraction_sharing_the_embeddings():
    model = TobigsElectraForPreTraining(tiny_electra(generator_size=0.25))
    generator, discriminator = model.generator, model.discriminator
    assert (generator.config.d_model, generator.config.encoder_attention_heads) == (8, 1)
    shared = discriminator.model.encoder.embeddings
    assert generator.model.encoder.embeddings.word_embeddings.weight is shared.word_embeddings.weight
    assert generator.model.encoder.embeddings.position_embeddings.weight is shared.position_embeddings.weight
    assert generator.lm_head.decoder.weight is shared.word_embeddings.weight  # G's output layer, E wide
    base = TobigsConfig.from_preset("electra-base")
    assert base.generator_size == pytest.approx(1 / 3)
    assert TobigsConfig.from_preset("electra-small").rtd_loss_weight == 50


def test_loss_is_mlm_plus_fifty_times_rtd_and_the_parts_are_the_two_models():
    torch.manual_seed(0)
    model = TobigsElectraForPreTraining(tiny_electra()).eval()
    inputs, original = _batch()
    out = model(**inputs)
    assert torch.allclose(out.loss, out.mlm_loss + 50.0 * out.rtd_loss)
    with torch.no_grad():
        assert torch.allclose(out.mlm_loss, model.generator(**inputs).loss)
        alone = model.discriminator(out.corrupted_ids, inputs["attention_mask"], labels=out.replaced)
    assert torch.allclose(out.rtd_loss, alone.loss) and torch.equal(out.logits, alone.logits)
    masked = inputs["labels"] != -100
    assert torch.equal(out.corrupted_ids[~masked], inputs["input_ids"][~masked])  # only masked positions are sampled
    assert torch.equal(out.replaced, (out.corrupted_ids != original).long())


def test_the_discriminator_loss_does_not_reach_the_generator_through_the_sample():
    torch.manual_seed(0)
    model = TobigsElectraForPreTraining(tiny_electra()).train()
    out = model(**_batch()[0])
    out.rtd_loss.backward()
    shared = {id(p) for p in model.discriminator.parameters()}
    generator_only = [(n, p) for n, p in model.generator.named_parameters() if id(p) not in shared]
    assert generator_only and all(p.grad is None for _, p in generator_only)
    assert model.discriminator.model.encoder.embeddings.word_embeddings.weight.grad is not None


def test_pretraining_learns_and_the_discriminator_loads_alone(tmp_path):
    torch.manual_seed(0)
    model = TobigsElectraForPreTraining(tiny_electra())
    inputs, _ = _batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        torch.manual_seed(1)  # the same samples every step: the loss of one batch must go down
        loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses

    model.eval().save_pretrained(tmp_path / "joint")
    again = TobigsElectraForPreTraining.from_pretrained(tmp_path / "joint").eval()
    shared_table = again.discriminator.model.encoder.embeddings.word_embeddings.weight
    assert again.generator.lm_head.decoder.weight is shared_table
    torch.manual_seed(2)
    expected = model(**inputs).loss
    torch.manual_seed(2)
    assert torch.allclose(again(**inputs).loss, expected)

    model.discriminator.save_pretrained(tmp_path / "discriminator")
    discriminator = TobigsForReplacedTokenDetection.from_pretrained(tmp_path / "discriminator").eval()
    ids = inputs["input_ids"]
    with torch.no_grad():
        assert torch.equal(discriminator(ids).logits, model.discriminator(ids).logits)
    classifier = TobigsForSequenceClassification.from_pretrained(tmp_path / "discriminator", num_labels=2)
    assert torch.equal(classifier.model.encoder.layers[0].feed_forward.fc1.weight,
                       model.discriminator.model.encoder.layers[0].feed_forward.fc1.weight)


@pytest.mark.parametrize("overrides, message", [
    (dict(generator_size=None), "needs config.generator_size"),
    (dict(generator_size=1.5), r"generator_size must be in \(0, 1\]"),
    (dict(rtd_loss_weight=0), "rtd_loss_weight must be > 0"),
])
def test_bad_electra_settings_name_the_field(overrides, message):
    with pytest.raises(ValueError, match=message):
        TobigsElectraForPreTraining(tiny_electra(**overrides))


def test_labels_are_required():
    model = TobigsElectraForPreTraining(tiny_electra())
    with pytest.raises(ValueError, match="needs labels"):
        model(_batch()[0]["input_ids"])


def test_resizing_the_vocabulary_resizes_both_models_and_keeps_them_tied():
    model = TobigsElectraForPreTraining(tiny_electra())
    assert model.get_input_embeddings() is model.discriminator.get_input_embeddings()
    model.resize_token_embeddings(120, mean_resizing=False)
    table = model.discriminator.get_input_embeddings().weight
    assert table.shape[0] == 120 and model.config.vocab_size == 120
    assert model.generator.config.vocab_size == 120
    assert model.generator.get_input_embeddings().weight.data_ptr() == table.data_ptr()
    assert model.generator.lm_head.decoder.weight.data_ptr() == table.data_ptr()
    batch, _ = _batch(vocab_size=120)
    batch["input_ids"][0, 0] = 119  # a new id goes through both models
    output = model(**batch)
    assert output.generator_logits.shape[-1] == 120 and torch.isfinite(output.loss)
