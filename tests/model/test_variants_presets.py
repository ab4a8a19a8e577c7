"""The lecture's variants as presets (docs/variants.md): each builds at tiny sizes with every family difference kept,
trains one step, saves and reloads through the Auto classes with identical outputs, and (where it generates)
generates the same tokens with and without the key/value cache."""

import pytest
import torch
from tiny import TINY
from transformers import (
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
)

import tobigs_transformer as tt
from tobigs_transformer import TobigsConfig

# preset -> (model class, Auto class, paper sizes: d_model, layers, heads, d_ff)
VARIANTS = {
    "marian": (tt.TobigsForConditionalGeneration, AutoModelForSeq2SeqLM, (512, 6, 8, 2048)),
    "roberta-base": (tt.TobigsForMaskedLM, AutoModelForMaskedLM, (768, 12, 12, 3072)),
    "albert-base": (tt.TobigsForMaskedLM, AutoModelForMaskedLM, (768, 12, 12, 3072)),
    "albert-large": (tt.TobigsForMaskedLM, AutoModelForMaskedLM, (1024, 24, 16, 4096)),
    "ctrl": (tt.TobigsForCausalLM, AutoModelForCausalLM, (1280, 48, 16, 8192)),
    "pegasus-large": (tt.TobigsForConditionalGeneration, AutoModelForSeq2SeqLM, (1024, 16, 16, 4096)),
    "electra-small": (tt.TobigsForMaskedLM, AutoModelForMaskedLM, (256, 12, 4, 1024)),
    "electra-base": (tt.TobigsForMaskedLM, AutoModelForMaskedLM, (768, 12, 12, 3072)),
}
CLASSIFIERS = ["roberta-base", "albert-base"]


def tiny_variant(preset: str, **overrides) -> TobigsConfig:
    """The preset at the tests' tiny sizes; its special ids follow the small vocabulary (counted from the end)."""
    return TobigsConfig.from_preset(preset, **{**TINY, **overrides})


def _inputs(config: TobigsConfig) -> dict:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(3, config.vocab_size - 2, (2, 7), generator=generator)
    mask = torch.ones_like(ids)
    if config.pad_token_id is not None:
        ids[1, 5:], mask[1, 5:] = config.pad_token_id, 0  # right padding in the second row
    inputs = dict(input_ids=ids, attention_mask=mask)
    if config.is_encoder_decoder:
        inputs["decoder_input_ids"] = ids[:, :4]
    return inputs


def _labels(model, inputs: dict) -> torch.Tensor:
    if isinstance(model, tt.TobigsForSequenceClassification):
        return torch.tensor([0, 1])
    if isinstance(model, tt.TobigsForReplacedTokenDetection):
        return inputs["input_ids"] % 2  # 1 = replaced
    target = inputs.get("decoder_input_ids", inputs["input_ids"])
    if model.config.pad_token_id is None:
        return target
    return target.masked_fill(target == model.config.pad_token_id, -100)


@pytest.mark.parametrize("preset", sorted(VARIANTS))
def test_preset_has_the_paper_sizes_and_is_listed(preset):
    config = TobigsConfig.from_preset(preset)
    assert preset in TobigsConfig.presets()
    d_model, layers, heads, d_ff = VARIANTS[preset][2]
    stack = "decoder" if config.architecture == "decoder-only" else "encoder"
    assert config.d_model == d_model and getattr(config, f"{stack}_layers") == layers
    assert getattr(config, f"{stack}_attention_heads") == heads and getattr(config, f"{stack}_ffn_dim") == d_ff


@pytest.mark.parametrize("preset, model_class, auto_class",
                         [(p, *VARIANTS[p][:2]) for p in sorted(VARIANTS)]
                         + [(p, tt.TobigsForSequenceClassification, AutoModelForSequenceClassification)
                            for p in CLASSIFIERS]
                         # no Auto class stands for replaced-token detection: the class itself loads it
                         + [(p, tt.TobigsForReplacedTokenDetection, tt.TobigsForReplacedTokenDetection)
                            for p in ("electra-small", "electra-base")])
def test_trains_one_step_saves_and_reloads_through_auto(preset, model_class, auto_class, tmp_path):
    torch.manual_seed(0)
    config = tiny_variant(preset, num_labels=2)
    model = model_class(config)
    inputs = _inputs(config)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    loss = model(**inputs, labels=_labels(model, inputs)).loss
    assert torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    changed = [name for name, p in model.named_parameters() if not torch.equal(p, before[name])]
    assert changed, "one optimizer step changed no parameter"

    model.eval().save_pretrained(tmp_path)
    reloaded = auto_class.from_pretrained(tmp_path).eval()
    assert type(reloaded) is model_class
    with torch.no_grad():
        a, b = model(**inputs), reloaded(**inputs)
    assert torch.allclose(a.logits, b.logits, atol=1e-6)


GENERATORS = [p for p in sorted(VARIANTS) if VARIANTS[p][1] in (AutoModelForSeq2SeqLM, AutoModelForCausalLM)]


@pytest.mark.parametrize("preset", GENERATORS)
def test_generates_the_same_with_and_without_cache(preset):
    torch.manual_seed(0)
    config = tiny_variant(preset)
    model = VARIANTS[preset][0](config).eval()
    inputs = _inputs(config)
    inputs.pop("decoder_input_ids", None)
    settings = dict(max_new_tokens=6, do_sample=False, min_new_tokens=6)
    for num_beams in (1, 2):
        cached = model.generate(**inputs, num_beams=num_beams, use_cache=True, **settings)
        uncached = model.generate(**inputs, num_beams=num_beams, use_cache=False, **settings)
        assert torch.equal(cached, uncached), num_beams
