"""The check convert and export run on a model before they write it anywhere else: the files it was loaded from
match their record (where one exists), and every weight it holds is finite."""

from __future__ import annotations

import os

import torch

from ..model.finite_weights import check_finite, source_folder
from .manifest import verify_recorded_weights


def _where(model: torch.nn.Module, folder: str | None) -> str:
    if folder is not None:
        weights = [n for n in sorted(os.listdir(folder)) if n.endswith((".safetensors", ".bin"))]
        if weights:
            return ", ".join(os.path.join(folder, n) for n in weights)
        return folder
    return f"{type(model).__name__} (in memory)"


def check_model_weights(model: torch.nn.Module) -> None:
    """Raise :class:`~.weights.CorruptWeightsError` when a weight file ``model`` came from differs from its recorded
    checksum, or when a weight of ``model`` is NaN/inf (naming the file and the tensor)."""
    folder = source_folder(model)
    if folder is not None:
        verify_recorded_weights(folder)
    check_finite(model.state_dict().items(), _where(model, folder))


__all__ = ["check_model_weights", "source_folder"]
