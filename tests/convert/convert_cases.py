"""Helpers shared by the converter tests (test_convert_families.py, test_convert_common.py, test_convert_cli.py) and
tests/model/test_composition.py: tiny transformers configs at the sizes of tests/tiny.py, `randomize_`,
`check_parity` (the acceptance checks for one converted pair) and batch builders. Tiny transformers models are built
from configs and randomly initialised: nothing is downloaded.
"""

import torch
import transformers
from tiny import TINY
from transformers import BartConfig, BertConfig, GPT2Config, MarianConfig

from tobigs_transformer.convert import convert_from_hf, convert_to_hf

ATOL = 1e-5  # acceptance: max |ours - transformers| < 1e-5 in fp32
OUTPUT_FIELDS = ("loss", "logits", "prediction_logits", "seq_relationship_logits", "start_logits", "end_logits",
                 "last_hidden_state", "pooler_output", "encoder_last_hidden_state")

# ---------------------------------------------------------------------------------------------------------------
# Tiny transformers configs (transformers' own tester sizes) and helpers shared by the family tests.
# ---------------------------------------------------------------------------------------------------------------

# The sizes of tests/tiny.py (the one source), in each family's own field names.
_V, _D, _L, _H, _F, _P = (TINY[k] for k in ("vocab_size", "d_model", "encoder_layers", "encoder_attention_heads",
                                            "encoder_ffn_dim", "max_position_embeddings"))
_ENC_DEC = dict(vocab_size=_V, d_model=_D, encoder_layers=_L, decoder_layers=_L, encoder_attention_heads=_H,
                decoder_attention_heads=_H, encoder_ffn_dim=_F, decoder_ffn_dim=_F, max_position_embeddings=_P)
_ENCODER = dict(vocab_size=_V, hidden_size=_D, num_hidden_layers=_L, num_attention_heads=_H, intermediate_size=_F,
                max_position_embeddings=_P)
_DECODER = dict(vocab_size=_V, n_embd=_D, n_layer=_L, n_head=_H, n_positions=_P)


def _config(config_class, **defaults):
    return lambda **kw: config_class(**{**defaults, **kw})


TINY_HF = {
    "gpt2": _config(GPT2Config, **_DECODER, n_inner=_F, bos_token_id=98, eos_token_id=98, pad_token_id=0,
                    num_labels=3),
    "bert": _config(BertConfig, **_ENCODER, type_vocab_size=2, num_labels=3),
    "bart": _config(BartConfig, **_ENC_DEC, pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
                    forced_eos_token_id=2, num_labels=3),
    "marian": _config(MarianConfig, **_ENC_DEC, decoder_vocab_size=_V, scale_embedding=True,
                      activation_function="swish", pad_token_id=98, eos_token_id=0, decoder_start_token_id=98,
                      forced_eos_token_id=0),
    "openai-gpt": _config(transformers.OpenAIGPTConfig, **_DECODER, pad_token_id=0, num_labels=3),
    "ctrl": _config(transformers.CTRLConfig, **_DECODER, dff=_F, pad_token_id=0, num_labels=3),
    # RoBERTa's positions start after the padding row: two more rows for the same usable length.
    "roberta": _config(transformers.RobertaConfig, **{**_ENCODER, "max_position_embeddings": _P + 2},
                       type_vocab_size=1, num_labels=3),
    "albert": _config(transformers.AlbertConfig, **{**_ENCODER, "num_hidden_layers": 4}, embedding_size=16,
                      num_hidden_groups=2),
    "electra": _config(transformers.ElectraConfig, **_ENCODER, embedding_size=16),
    "pegasus": _config(transformers.PegasusConfig, **_ENC_DEC, scale_embedding=True, activation_function="relu"),
}


def tiny_hf(family: str, class_name: str, **config_overrides):
    """A tiny randomly initialised transformers model, in eval mode, with every parameter randomised."""
    model = getattr(transformers, class_name)(TINY_HF[family](**config_overrides))
    return randomize_(model.eval())


@torch.no_grad()
def randomize_(model: torch.nn.Module) -> torch.nn.Module:
    """Give every parameter (LayerNorms and biases included) and BART's final_logits_bias a distinct random value, so
    that a swapped or dropped tensor changes the outputs. Marian's and Pegasus' fixed sinusoid tables are left
    alone."""
    for name, param in model.named_parameters():
        if name.endswith("embed_positions.weight") and type(model).__name__.startswith(("Marian", "Pegasus")):
            continue
        param.normal_(0.0, 0.2 if param.dim() > 1 else 0.5)
        if name.endswith("norm.weight") or "LayerNorm.weight" in name or name.endswith("layernorm_embedding.weight"):
            param.add_(1.0)
    for name, buffer in model.named_buffers():
        if name.endswith("final_logits_bias"):
            buffer.normal_(0.0, 0.5)
    return model


# transformers' names for outputs that ours carry under another name (ALBERT's SOP head is our NSP head).
OUTPUT_ALIASES = {"sop_logits": "seq_relationship_logits"}


def outputs_of(model, inputs: dict) -> dict:
    with torch.no_grad():
        out = model(**inputs)
    found = {name: getattr(out, name) for name in OUTPUT_FIELDS if getattr(out, name, None) is not None}
    found.update({ours: getattr(out, name) for name, ours in OUTPUT_ALIASES.items()
                  if getattr(out, name, None) is not None})
    return found


def assert_same_outputs(a: dict, b: dict, atol: float = ATOL) -> None:
    # BART's classifier also returns the encoder output; our SequenceClassifierOutput does not.
    assert set(a) ^ set(b) <= {"encoder_last_hidden_state"}, (sorted(a), sorted(b))
    for name in set(a) & set(b):
        assert a[name].shape == b[name].shape, name
        diff = (a[name] - b[name]).abs().max().item()
        assert diff < atol, f"{name}: max |difference| = {diff}"


def assert_same_state_dict(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key


def check_parity(hf_model, inputs: dict, tmp_path, generate_inputs: dict | None = None, generate_kwargs=None):
    """The acceptance checks for one pair: same outputs (and loss, when `inputs` carry labels), same greedy and beam
    tokens, exact round trip of the state dict, and save/reload of the converted model."""
    ours = convert_from_hf(hf_model)
    assert not ours.training
    assert_same_outputs(outputs_of(ours, inputs), outputs_of(hf_model, inputs))

    if generate_inputs is not None:
        for num_beams in (1, 3):
            settings = dict(max_new_tokens=6, do_sample=False, num_beams=num_beams, **(generate_kwargs or {}))
            expected = hf_model.generate(**generate_inputs, **settings)
            got = ours.generate(**generate_inputs, **settings)
            assert torch.equal(got, expected), (num_beams, got, expected)

    back = convert_to_hf(ours, target=type(hf_model))
    assert type(back) is type(hf_model)
    assert_same_state_dict(back.state_dict(), hf_model.state_dict())
    assert_same_outputs(outputs_of(back.eval(), inputs), outputs_of(hf_model, inputs))

    ours.save_pretrained(tmp_path / "ours")
    reloaded = type(ours).from_pretrained(tmp_path / "ours").eval()
    assert_same_state_dict(reloaded.state_dict(), ours.state_dict())
    # Same weights; memory-mapped tensors may take another SIMD path, hence a tolerance rather than bit equality.
    assert_same_outputs(outputs_of(reloaded, inputs), outputs_of(ours, inputs))
    if generate_inputs is not None:
        assert reloaded.generation_config.to_diff_dict() == ours.generation_config.to_diff_dict()
    return ours


def right_padded(batch_size: int, lengths: list[int], low: int, high: int, pad: int, eos: int | None = None):
    """Random ids in [low, high) with right padding (and an end-of-sequence token last, when given)."""
    seq_length = max(lengths)
    ids = torch.randint(low, high, (batch_size, seq_length))
    mask = torch.zeros(batch_size, seq_length, dtype=torch.long)
    for row, length in enumerate(lengths):
        mask[row, :length] = 1
        if eos is not None:
            ids[row, length - 1] = eos
        ids[row, length:] = pad
    return ids, mask
