"""Are a model's weights numbers? The one finiteness check of the package: `from_pretrained` runs it on every model
it loads, and the integrity tooling (`integrity/`, for resume, convert and export) imports it from here.

A safetensors file whose body was damaged (a flipped exponent byte, a disk error) often still parses, and a weight
that became NaN or inf loads without a word: every output is NaN from then on, far from the cause. The check costs
one sum per tensor (a sum is NaN/inf whenever an element is); only a tensor whose sum is not finite pays for the
element-wise test that names the first bad value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import torch
from torch import nn

_NATIVE = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# The weight files `save_pretrained` writes, in the order transformers looks for them.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


class CorruptWeightsError(ValueError):
    """A weight file that differs from its record, cannot be parsed, or holds NaN/inf."""


def first_non_finite(named: Iterable[tuple[str, torch.Tensor]]) -> tuple[str, torch.Tensor, torch.Tensor] | None:
    """``(name, tensor, mask of bad values)`` of the first floating-point tensor holding NaN or ±inf, else None.
    Tensors without data (the meta device: offloaded or not yet materialised) are skipped."""
    for name, tensor in named:
        if not tensor.is_floating_point() or tensor.numel() == 0 or tensor.device.type == "meta":
            continue
        values = tensor if tensor.dtype in _NATIVE else tensor.float()  # float8 & co.
        # A sum is NaN/inf whenever one element is, and costs ~1/20 of isfinite().all() on CPU; only a sum that is
        # not finite (a bad value, or an overflow of huge finite ones) pays for the exact element-wise test.
        accumulate = torch.float64 if values.dtype == torch.float64 else torch.float32
        if bool(torch.isfinite(values.detach().sum(dtype=accumulate))):
            continue
        bad = ~torch.isfinite(values.detach())
        if bool(bad.any()):
            return name, values.detach(), bad
    return None


def describe_non_finite(name: str, values: torch.Tensor, bad: torch.Tensor, where: str) -> str:
    n_nan = int(torch.isnan(values).sum())
    first = tuple(int(i) for i in bad.nonzero()[0].tolist())
    return (
        f"{where}: tensor {name!r} (shape {tuple(values.shape)}) holds {int(bad.sum())} non-finite values "
        f"({n_nan} NaN, {int(bad.sum()) - n_nan} inf), first at index {first}; weights must be finite"
    )


def check_finite(named: Iterable[tuple[str, torch.Tensor]], where: str) -> None:
    """Raise :class:`CorruptWeightsError` naming ``where`` and the first tensor that holds NaN or ±inf."""
    found = first_non_finite(named)
    if found is not None:
        raise CorruptWeightsError(describe_non_finite(*found, where))


def source_folder(model: nn.Module, subfolder: str = "") -> str | None:
    """The local folder ``from_pretrained`` read ``model`` from (a Hub id resolves to its cached snapshot), if any."""
    source = getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None), "_name_or_path", None)
    if not source:
        return None
    source = str(source)
    if os.path.isdir(source):
        folder = os.path.join(source, subfolder) if subfolder else source
        return folder if os.path.isdir(folder) else source
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(source, "config.json", subfolder=subfolder or None)
    except Exception:  # noqa: BLE001 - not a repo id: the model was built in memory
        return None
    return os.path.dirname(cached) if isinstance(cached, str) else None


def weight_files(folder: str) -> list[str]:
    """The weight files of a saved folder (the shards of a sharded one), as paths."""
    for name in WEIGHT_FILES:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            continue
        if name.endswith(".index.json"):
            with open(path, encoding="utf-8") as f:
                shards = sorted(set(json.load(f).get("weight_map", {}).values()))
            return [os.path.join(folder, shard) for shard in shards]
        return [path]
    return []


def file_holding(folder: str, name: str) -> str | None:
    """The weight file of ``folder`` that stores tensor ``name`` (its shard, for a sharded folder), if one does."""
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        path = os.path.join(folder, index)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                shard = json.load(f).get("weight_map", {}).get(name)
            return None if shard is None else os.path.join(folder, shard)
    files = weight_files(folder)
    return files[0] if len(files) == 1 else None


def _stored_copy(path: str, name: str) -> torch.Tensor | None:
    """Tensor ``name`` as the safetensors file ``path`` stores it (None: not a safetensors file, or not in it)."""
    if not path.endswith(".safetensors"):
        return None
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt") as handle:
            return handle.get_tensor(name) if name in handle.keys() else None
    except Exception:  # noqa: BLE001 - an unreadable file: the caller reports the loaded values instead
        return None


def check_loaded_weights(model: nn.Module, subfolder: str = "") -> None:
    """Raise :class:`CorruptWeightsError` when a parameter or buffer of a freshly loaded ``model`` holds NaN or ±inf,
    naming the tensor and the file it came from. A tensor that is finite in the file but not in the model overflowed
    the dtype it was loaded in (a float32 weight beyond float16's 65504): the error says so instead of blaming the
    file.

    Cost, measured for GPT-2 small (124M parameters, a 498 MB float32 safetensors file in the page cache) on this
    project's shared 2-core CPU (load average ~7): with 1 torch thread the check takes 0.07-0.09 s against
    0.08-0.19 s for `from_pretrained` itself (transformers memory-maps safetensors, so the load reads little and the
    check is the first pass over the 498 MB, which the first forward would make anyway); with 2 threads on the busy
    machine the check's parallel sums contend for the cores, 0.5-1.4 s. `check_finite_weights=False` skips it."""
    found = first_non_finite([*model.named_parameters(), *model.named_buffers()])
    if found is None:
        return
    name, values, bad = found
    folder = source_folder(model, subfolder)
    path = None if folder is None else file_holding(folder, name)
    stored = None if path is None else _stored_copy(path, name)
    if stored is not None and bool(torch.isfinite(stored).all()) and stored.dtype != values.dtype:
        largest = float(stored.abs().max())
        raise CorruptWeightsError(
            f"{path}: tensor {name!r} is finite in the file ({stored.dtype}) but its largest |value| {largest:g} "
            f"overflows {values.dtype} (max {torch.finfo(values.dtype).max:g}): load it in a wider dtype "
            "(torch.float32, or torch.bfloat16 which has float32's range)"
        )
    if path is not None:
        where = path
    elif folder is not None:
        where = ", ".join(weight_files(folder)) or folder
    else:
        where = f"{type(model).__name__} (loaded from {getattr(model, 'name_or_path', '?')!r})"
    raise CorruptWeightsError(
        describe_non_finite(name, values, bad, where)
        + " (the file's bytes were damaged, or it was saved from a model that had diverged); load it with "
        "check_finite_weights=False to inspect it anyway"
    )


__all__ = [
    "CorruptWeightsError",
    "check_finite",
    "check_loaded_weights",
    "describe_non_finite",
    "file_holding",
    "first_non_finite",
    "source_folder",
    "weight_files",
]
