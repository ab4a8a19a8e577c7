"""Every preset runs in float32, bfloat16 and float16: loaded with `from_pretrained(dtype=...)`, cast with
`.to(dtype)`, and loaded with `dtype="auto"` from a folder saved in bfloat16. Each one forwards, generates (where it
generates), and takes a training step, and everything computed from the config (sinusoid tables, rotary angles,
relative encodings, masks, Transformer-XL memory) follows the parameters' dtype.

Tolerance (logits of the half-precision model vs float32, on the same weights before rounding): the relative error
||x - x_32|| / ||x_32|| over the real (unpadded) positions must stay under 5 u, u the format's unit roundoff: every
rounding stage (weights, embeddings, each attention and feed-forward, the head) adds about u, and these 2-layer models
have a handful of them. bfloat16: u = 2^-8, bound 2e-2; float16: u = 2^-11, bound 2.5e-3. Measured (this CPU, all
variants and routes): at most 8.0e-3 (bfloat16) and 1.2e-3 (float16), about 2 u for both; float32 is exact (0). A
model whose sinusoids or masks stayed in float32 does not reach the comparison: it fails with "mat1 and mat2 must
have the same dtype" or "mixed dtype".

float16 on CPU: torch 2.13's CPU kernels cover every op these models use in float16 (matmul, layer norm, softmax,
sdpa, embedding backward, multinomial over float32 probabilities), so no float16 case is skipped: the float16 cases
below run them all, forward, backward and generate (a missing kernel fails there as "... not implemented for 'Half'").
"""

import sys

import pytest
import torch
from tiny import tiny_config
from transformers import AutoModelForCausalLM

from tobigs_transformer import (
    TobigsConfig,
    TobigsElectraForPreTraining,
    TobigsForCausalLM,
    TobigsForConditionalGeneration,
    TobigsForMaskedLM,
)
from tobigs_transformer.model.positional_encoding import SinusoidalPositionalEncoding, sinusoidal_table

HALF = (torch.bfloat16, torch.float16)
DTYPES = (torch.float32, *HALF)
# Relative error bound of the logits against float32 (see the module docstring for why these values).
TOLERANCE = {torch.float32: 0.0, torch.bfloat16: 2e-2, torch.float16: 2.5e-3}

# Every preset, plus the position variants no preset uses: rotary (decoder-only and encoder-only; encoder-decoder takes no rotary) and
# Transformer-XL with shared global biases and clamped distances.
VARIANTS = {preset: {} for preset in TobigsConfig.presets()}
VARIANTS["gpt2+rotary"] = dict(position_embedding_type="rotary")
VARIANTS["bert-base+rotary"] = dict(position_embedding_type="rotary")
VARIANTS["transformer-xl+shared-biases"] = dict(untie_r=False, clamp_len=5)


def variant_config(variant: str) -> TobigsConfig:
    preset = variant.split("+")[0]
    overrides = dict(VARIANTS[variant], dropout=0.0, attention_dropout=0.0, activation_dropout=0.0)
    if TobigsConfig.from_preset(preset).embedding_size is not None:
        overrides["embedding_size"] = 16  # keep ALBERT's / ELECTRA-small's factorized embeddings, at tiny width
    if preset == "transformer-xl":
        overrides["mem_len"] = 8
    return tiny_config(preset, **overrides)


def model_class(config: TobigsConfig):
    if config.generator_size is not None:
        return TobigsElectraForPreTraining  # ELECTRA's family feature: generator + discriminator
    return {"encoder-decoder": TobigsForConditionalGeneration, "decoder-only": TobigsForCausalLM,
            "encoder-only": TobigsForMaskedLM}[config.architecture]


def batch(config: TobigsConfig) -> dict:
    """Two rows, one of them padded (left for a decoder-only model, right otherwise), so that every mask is built."""
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 90, (2, 7), generator=generator)
    mask = torch.ones_like(ids)
    if config.architecture == "decoder-only":
        mask[1, :2] = 0
    else:
        mask[1, 5:] = 0
    inputs = dict(input_ids=ids, attention_mask=mask)
    if config.architecture == "encoder-decoder":
        inputs["decoder_input_ids"] = torch.randint(5, 90, (2, 5), generator=generator)
    if config.generator_size is not None:
        inputs["labels"] = ids.masked_fill(torch.rand(ids.shape, generator=generator) > 0.4, -100)
    return inputs


def logits_of(model, inputs: dict) -> torch.Tensor:
    """The model's output scores at the real positions (ELECTRA: the generator's, the part without sampling)."""
    torch.manual_seed(0)
    with torch.no_grad():
        output = model(**inputs)
    logits = output.generator_logits if isinstance(model, TobigsElectraForPreTraining) else output.logits
    if "decoder_input_ids" in inputs or isinstance(model, TobigsElectraForPreTraining):
        return logits if logits.dim() == 2 else logits.flatten(0, 1)
    return logits[inputs["attention_mask"].bool()]  # (real tokens, vocab)


_CACHE: dict = {}


def reference(variant: str, tmp_path_factory) -> tuple:
    """(config, float32 folder, bfloat16 folder, float32 logits) of a variant, built once per session."""
    if variant not in _CACHE:
        config = variant_config(variant)
        model = model_class(config)(config).eval()
        root = tmp_path_factory.mktemp(variant.replace("+", "-"))
        model.save_pretrained(root / "fp32")
        model.to(torch.bfloat16).save_pretrained(root / "bf16")
        model = model_class(config).from_pretrained(root / "fp32").eval()
        _CACHE[variant] = config, root / "fp32", root / "bf16", logits_of(model, batch(config))
    return _CACHE[variant]


def load(variant: str, dtype: torch.dtype, route: str, tmp_path_factory):
    config, fp32_folder, bf16_folder, expected = reference(variant, tmp_path_factory)
    cls = model_class(config)
    if route == "from_pretrained":
        model = cls.from_pretrained(fp32_folder, dtype=dtype)
    elif route == "to":
        model = cls.from_pretrained(fp32_folder).to(dtype)
    else:  # "auto": the dtype the folder was saved in
        model = cls.from_pretrained(bf16_folder, dtype="auto")
    return config, model.eval(), expected


def check_all_floating_tensors_in(model, dtype: torch.dtype) -> None:
    """Every floating parameter AND buffer (the sinusoid table included) in `dtype`."""
    wrong = [f"{name}: {t.dtype}" for name, t in [*model.named_parameters(), *model.named_buffers()]
             if t.is_floating_point() and t.dtype != dtype]
    assert wrong == []


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual.float() - expected).norm() / expected.norm())


def train_step(model, inputs: dict, dtype: torch.dtype) -> None:
    """Forward with labels, backward, one SGD step: finite loss, finite gradients in the parameters' dtype."""
    model.train()
    labels = inputs.get("labels")
    if labels is None:
        labels = inputs.get("decoder_input_ids", inputs["input_ids"])
        if "decoder_input_ids" not in inputs:
            labels = labels.masked_fill(inputs["attention_mask"] == 0, -100)
    output = model(**{**inputs, "labels": labels})
    assert torch.isfinite(output.loss), output.loss
    output.loss.backward()
    grads = [(name, p.grad) for name, p in model.named_parameters() if p.grad is not None]
    assert grads and all(g.dtype == dtype and torch.isfinite(g).all() for _, g in grads)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    torch.optim.SGD(model.parameters(), lr=1e-2).step()
    assert any(not torch.equal(before[name], p) for name, p in model.named_parameters())
    assert all(torch.isfinite(p).all() for p in model.parameters())


def generate_check(model, config: TobigsConfig, inputs: dict) -> None:
    if isinstance(model, (TobigsForMaskedLM, TobigsElectraForPreTraining)):
        return  # encoders do not generate
    generated = model.generate(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                               max_new_tokens=3, do_sample=False, min_new_tokens=3)
    assert generated.dtype == torch.long and generated.shape[0] == 2
    assert int(generated.min()) >= 0 and int(generated.max()) < config.vocab_size


def memory_check(model, config: TobigsConfig, inputs: dict, dtype: torch.dtype) -> None:
    """Transformer-XL: the memory comes back in the model's dtype and feeds the next segment."""
    if not config.mem_len:
        return
    with torch.no_grad():
        first = model(input_ids=inputs["input_ids"])
        assert all(m.dtype == dtype for m in first.mems)
        second = model(input_ids=inputs["input_ids"], mems=first.mems)
    assert second.logits.dtype == dtype and torch.isfinite(second.logits).all()
    generated = model.generate(input_ids=inputs["input_ids"], mems=first.mems, max_new_tokens=2, min_new_tokens=2,
                               do_sample=False)  # the memory as the context before the prompt
    assert generated.shape == (2, inputs["input_ids"].shape[1] + 2)


def run_case(variant: str, dtype: torch.dtype, route: str, tmp_path_factory) -> None:
    config, model, expected = load(variant, dtype, route, tmp_path_factory)
    check_all_floating_tensors_in(model, dtype)
    inputs = batch(config)
    logits = logits_of(model, inputs)
    assert logits.dtype == dtype
    error = relative_error(logits, expected)
    print(f"{variant} {dtype} {route}: relative error {error:.2e}", file=sys.stderr)
    if route == "auto":  # the folder itself holds bfloat16-rounded weights: the same bound applies
        assert error <= TOLERANCE[torch.bfloat16]
    else:
        assert error <= TOLERANCE[dtype]
    generate_check(model, config, inputs)
    memory_check(model, config, inputs, dtype)
    train_step(model, inputs, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).removeprefix("torch."))
@pytest.mark.parametrize("variant", VARIANTS)
def test_from_pretrained_dtype(variant, dtype, tmp_path_factory):
    run_case(variant, dtype, "from_pretrained", tmp_path_factory)


@pytest.mark.parametrize("dtype", HALF, ids=lambda d: str(d).removeprefix("torch."))
@pytest.mark.parametrize("variant", VARIANTS)
def test_to_dtype(variant, dtype, tmp_path_factory):
    run_case(variant, dtype, "to", tmp_path_factory)


@pytest.mark.parametrize("variant", VARIANTS)
def test_auto_dtype_of_a_bfloat16_folder(variant, tmp_path_factory):
    run_case(variant, torch.bfloat16, "auto", tmp_path_factory)


def test_the_sinusoid_table_is_rounded_once_from_float64(tmp_path_factory):
    """In half precision the table is the float64 sinusoids rounded once to the model's dtype (not float32 first)."""
    config, fp32_folder, _, _ = reference("transformer-base", tmp_path_factory)
    for dtype in HALF:
        model = TobigsForConditionalGeneration.from_pretrained(fp32_folder, dtype=dtype)
        table = model.model.encoder.embeddings.position_embeddings.pe
        expected = sinusoidal_table(config.max_position_embeddings, config.d_model, config.sinusoidal_layout,
                                    dtype=torch.float64).to(dtype)
        assert table.dtype == dtype and torch.equal(table, expected)


def test_a_table_in_another_dtype_is_cast_at_use():
    """The lookup takes the dtype of the embeddings it is added to: a float32 table cannot promote bfloat16 states."""
    encoding = SinusoidalPositionalEncoding(16, 8)
    position_ids = torch.tensor([[0, 3, 15]])
    rows = encoding(position_ids, torch.bfloat16)
    assert rows.dtype == torch.bfloat16 and torch.equal(rows, encoding.pe[position_ids].to(torch.bfloat16))
    assert encoding(position_ids).dtype == torch.float32  # no dtype: the table's own


UNRUNNABLE = [
    (torch.float8_e4m3fn, "a floating-point storage format without arithmetic kernels"),
    (torch.float8_e5m2, "a floating-point storage format without arithmetic kernels"),
    (torch.int8, "not a real floating-point dtype"),
    (torch.complex64, "not a real floating-point dtype"),
    ("float8_e4m3fn", "a floating-point storage format without arithmetic kernels"),
]
ADVICE = "the model computes in torch.float32, torch.bfloat16 or torch.float16 (or torch.float64)"


@pytest.mark.parametrize("dtype, kind", UNRUNNABLE, ids=str)
def test_from_pretrained_in_a_dtype_the_model_cannot_compute_in(dtype, kind, tmp_path_factory):
    """Was: float8 -> TypeError "couldn't find storage object Float8_e4m3fnStorage" from inside transformers."""
    _, fp32_folder, _, _ = reference("gpt2", tmp_path_factory)
    name = dtype if isinstance(dtype, torch.dtype) else getattr(torch, dtype)
    with pytest.raises(ValueError) as info:
        TobigsForCausalLM.from_pretrained(fp32_folder, dtype=dtype)
    assert str(info.value).startswith(f"dtype for TobigsForCausalLM.from_pretrained is {name}, {kind}: {ADVICE}")


def test_from_config_in_a_dtype_the_model_cannot_compute_in():
    """Was: TypeError "couldn't find storage object Float8_e4m3fnStorage"; the Auto classes go through it too."""
    for build in (TobigsForCausalLM._from_config, AutoModelForCausalLM.from_config):
        with pytest.raises(ValueError) as info:
            build(variant_config("gpt2"), dtype=torch.float8_e4m3fn)
        assert str(info.value).startswith("dtype for TobigsForCausalLM.from_config is torch.float8_e4m3fn, a floating"
                                          f"-point storage format without arithmetic kernels: {ADVICE}")
    assert TobigsForCausalLM._from_config(variant_config("gpt2"), dtype=torch.bfloat16).dtype == torch.bfloat16


def test_a_folder_saved_in_float8_names_the_dtype_with_auto(tmp_path):
    """dtype="auto" reads float8 from the folder's config: the same error, before any weight is read."""
    model = TobigsForCausalLM(variant_config("gpt2"))
    model.to(torch.float8_e4m3fn).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"^dtype for TobigsForCausalLM.from_pretrained is torch.float8_e4m3fn, a "):
        TobigsForCausalLM.from_pretrained(tmp_path, dtype="auto")


@pytest.mark.filterwarnings("ignore:Complex modules are a new feature")
@pytest.mark.parametrize("dtype, kind", [d for d in UNRUNNABLE[:4] if d[0] != torch.int8], ids=str)
def test_forward_of_a_model_cast_to_a_dtype_it_cannot_compute_in(dtype, kind):
    """Was: NotImplementedError "add_stub" not implemented for 'Float8_e4m3fn' (complex: an autograd error)."""
    model = TobigsForCausalLM(variant_config("gpt2")).to(dtype)
    with pytest.raises(ValueError) as info:
        model(input_ids=torch.tensor([[5, 6, 7]]))
    assert str(info.value) == (f"the dtype of the model's parameters is {dtype}, {kind}: {ADVICE}; pass one of those "
                               "(to store weights in 8 bits, use a quantization_config)")
