"""The class names of a classifier's labels and the config values they give."""

from __future__ import annotations

from typing import Any

import numpy as np

from .validation import ArgumentError


def label_names(values, option: str) -> list[str]:
    """The class names, list index = label id: ``0 .. max`` for integer labels (ids kept as given), otherwise the
    sorted distinct names.  Every label value ``v`` has the id ``names.index(str(v))``."""
    values = set(values)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        if min(values) < 0:
            raise ArgumentError(f"{option}: integer labels must be >= 0, got {sorted(values)[:10]}")
        return [str(i) for i in range(max(values) + 1)]
    return sorted({str(v) for v in values})


def label_config(names: list[str]) -> dict[str, Any]:
    """The config values of a classifier over ``names``."""
    return {"num_labels": len(names), "id2label": dict(enumerate(names)),
            "label2id": {name: i for i, name in enumerate(names)}}
