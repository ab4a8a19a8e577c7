"""`from_pretrained` refuses weights that load as NaN or inf (a damaged safetensors body, a float32 value beyond
float16's range), naming the tensor and the file; the integrity tooling uses the same single implementation."""

import json
import struct

import pytest
import torch
from tiny import tiny_config
from transformers import AutoModelForCausalLM

from tobigs_transformer import TobigsForCausalLM, TobigsForConditionalGeneration
from tobigs_transformer import finite_weights
from tobigs_transformer.integrity import CorruptWeightsError, check_finite
from tobigs_transformer.integrity import weights as integrity_weights

WEIGHTS = "model.safetensors"


def header(path: str) -> tuple[int, dict]:
    """(offset of the data section, the JSON header) of a safetensors file."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        return 8 + length, json.loads(f.read(length))


def flip_to_non_finite(path: str, name: str, index: int, value: bytes) -> None:
    """Overwrite float32 element `index` of tensor `name` in place, in the file's body (the header stays valid):
    b'\\x00\\x00\\xc0\\x7f' is a NaN, b'\\x00\\x00\\x80\\x7f' +inf; what a damaged exponent byte does."""
    start, meta = header(path)
    assert meta[name]["dtype"] == "F32"
    with open(path, "r+b") as f:
        f.seek(start + meta[name]["data_offsets"][0] + 4 * index)
        f.write(value)


NAN, INF = b"\x00\x00\xc0\x7f", b"\x00\x00\x80\x7f"


@pytest.fixture
def saved(tmp_path):
    TobigsForCausalLM(tiny_config("gpt2")).save_pretrained(tmp_path)
    return tmp_path


@pytest.mark.parametrize("value, count", [(NAN, "(1 NaN, 0 inf)"), (INF, "(0 NaN, 1 inf)")])
def test_a_damaged_body_names_the_tensor_and_the_file(saved, value, count):
    name = "model.decoder.layers.1.feed_forward.fc1.weight"
    flip_to_non_finite(str(saved / WEIGHTS), name, 37, value)
    with pytest.raises(CorruptWeightsError) as info:
        TobigsForCausalLM.from_pretrained(saved)
    assert str(info.value).startswith(
        f"{saved / WEIGHTS}: tensor {name!r} (shape (37, 32)) holds 1 non-finite values {count}, first at index "
        f"(1, 5); weights must be finite"
    )  # element 37 of a (37, 32) matrix is row 1, column 5
    assert isinstance(info.value, ValueError)


def test_the_auto_classes_check_too_and_the_check_can_be_skipped(saved):
    flip_to_non_finite(str(saved / WEIGHTS), "model.decoder.embeddings.word_embeddings.weight", 0, NAN)
    with pytest.raises(CorruptWeightsError, match="word_embeddings.weight"):
        AutoModelForCausalLM.from_pretrained(saved)
    model = TobigsForCausalLM.from_pretrained(saved, check_finite_weights=False)  # to inspect the damage
    assert torch.isnan(model.model.decoder.embeddings.word_embeddings.weight[0, 0])


def test_a_sharded_folder_names_the_shard(tmp_path):
    TobigsForCausalLM(tiny_config("gpt2")).save_pretrained(tmp_path, max_shard_size="20KB")
    with open(tmp_path / "model.safetensors.index.json") as f:
        weight_map = json.load(f)["weight_map"]
    assert len(set(weight_map.values())) > 1
    name = "model.decoder.layers.0.self_attn.out_proj.weight"
    flip_to_non_finite(str(tmp_path / weight_map[name]), name, 3, INF)
    with pytest.raises(CorruptWeightsError) as info:
        TobigsForCausalLM.from_pretrained(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / weight_map[name]}: tensor {name!r}")


def test_a_subfolder_names_its_file(tmp_path):
    TobigsForConditionalGeneration(tiny_config("bart-base")).save_pretrained(tmp_path / "inner")
    name = "model.encoder.layers.0.self_attn.qkv_proj.weight"
    flip_to_non_finite(str(tmp_path / "inner" / WEIGHTS), name, 0, NAN)
    with pytest.raises(CorruptWeightsError) as info:
        TobigsForConditionalGeneration.from_pretrained(tmp_path, subfolder="inner")
    assert str(info.value).startswith(f"{tmp_path / 'inner' / WEIGHTS}: tensor {name!r}")


def test_a_float16_overflow_is_not_blamed_on_the_file(saved):
    """A finite float32 weight of 1e6 is inf in float16: the error says which dtype overflowed, and bfloat16 (float32's
    range) loads it."""
    name = "model.decoder.layers.0.feed_forward.fc2.weight"
    flip_to_non_finite(str(saved / WEIGHTS), name, 2, struct.pack("<f", 1e6))
    with pytest.raises(CorruptWeightsError) as info:
        TobigsForCausalLM.from_pretrained(saved, dtype=torch.float16)
    assert str(info.value) == (
        f"{saved / WEIGHTS}: tensor {name!r} is finite in the file (torch.float32) but its largest |value| 1e+06 "
        "overflows torch.float16 (max 65504): load it in a wider dtype (torch.float32, or torch.bfloat16 which has "
        "float32's range)"
    )
    model = TobigsForCausalLM.from_pretrained(saved, dtype=torch.bfloat16)
    assert float(model.model.decoder.layers[0].feed_forward.fc2.weight.detach().flatten()[2]) == 999424.0  # 1e6 in bfloat16


def test_a_clean_folder_loads_identically_with_and_without_the_check(saved):
    checked = TobigsForCausalLM.from_pretrained(saved)
    unchecked = TobigsForCausalLM.from_pretrained(saved, check_finite_weights=False)
    for (name, a), (_, b) in zip(checked.state_dict().items(), unchecked.state_dict().items()):
        assert torch.equal(a, b), name
    model, info = TobigsForCausalLM.from_pretrained(saved, output_loading_info=True)  # the (model, info) form
    assert isinstance(model, TobigsForCausalLM) and not info["missing_keys"]


def test_one_implementation_for_the_model_and_the_tooling():
    """The tooling's finiteness check is the model module's (model code may not import tooling)."""
    assert integrity_weights.check_finite is finite_weights.check_finite is check_finite
    assert integrity_weights.CorruptWeightsError is finite_weights.CorruptWeightsError is CorruptWeightsError
    assert integrity_weights.first_non_finite is finite_weights.first_non_finite


def test_first_non_finite_finds_inf_among_huge_finite_values():
    """A sum that overflows (huge finite values) is not an error by itself: the element-wise test decides."""
    huge = torch.full((4,), 3e38)
    assert finite_weights.first_non_finite([("huge", huge)]) is None
    huge[2] = float("-inf")
    name, _, bad = finite_weights.first_non_finite([("huge", huge)])
    assert name == "huge" and bad.tolist() == [False, False, True, False]
    assert finite_weights.first_non_finite([("meta", torch.empty(3, device="meta"))]) is None  # no data to check
