"""The one error of the converters: a checkpoint or config that has no exact equivalent."""

from __future__ import annotations


class ConversionError(ValueError):
    """A checkpoint or config that cannot be converted exactly; the message names the offending keys or fields."""
