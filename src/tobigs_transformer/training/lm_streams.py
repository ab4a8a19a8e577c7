"""Transformer-XL's language-model iterator (Dai et al. 2019, the ``LMOrderedIterator`` of the paper's code).

Segment-level recurrence only helps if the segment a row sees now continues the segment the same row saw one step
before: the memory of row b is the hidden states of row b's previous segment.  So the token stream is cut into
``num_streams`` contiguous parallel streams, each cut into segments of ``segment_length``, and the dataset lists the
segments *segment-major*: all streams' segment 0, then all streams' segment 1, ...::

    index = t * num_streams + s        (segment t of stream s)

With a sequential sampler, a per-device batch size B and W processes (``num_streams = B * W``), global batch k holds
items ``[kB, kB + B)``; accelerate shards batches round-robin (process r gets batches r, r + W, ...), so process r's
t-th batch is segment t of streams ``rB ... rB + B - 1``: row b of every process's batch t + 1 continues row b of its
batch t.  Under gradient accumulation the micro-batches of a process are consecutive batches, so the same holds per
micro-batch.

Stream s takes inputs ``[s n, s n + n)`` and targets ``[s n + 1, s n + n + 1)`` of the token stream (``n`` =
segments per stream × ``segment_length``), so the targets of all streams partition ``[1, num_streams n + 1)``: every
token after the first is trained exactly once, the last position of a segment included (its target is the first
token of the next segment, passed as ``shift_labels``).  The ragged tail that does not fill a segment in every
stream is dropped and counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["StreamPlan", "plan_streams", "stream_segments"]


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


@dataclass(frozen=True)
class StreamPlan:
    """How a stream of ``n_tokens`` tokens is cut: ``num_streams`` streams of ``segments`` segments each."""

    n_tokens: int
    num_streams: int
    segment_length: int
    segments: int

    @property
    def tokens_per_stream(self) -> int:
        return self.segments * self.segment_length

    @property
    def targets(self) -> int:
        """Tokens trained (each exactly once)."""
        return self.num_streams * self.tokens_per_stream

    @property
    def dropped(self) -> int:
        """Tokens of the ragged tail that are never a target (the first token is never one either)."""
        return max(self.n_tokens - 1 - self.targets, 0)

    def describe(self) -> str:
        return (f"{self.n_tokens} tokens -> {self.num_streams} parallel streams x {self.segments} segments of "
                f"{self.segment_length} ({self.targets} targets, each once; the last {self.dropped} tokens fill no "
                "segment in every stream and are dropped)")


def plan_streams(n_tokens: int, num_streams: int, segment_length: int) -> StreamPlan:
    """The cut of ``n_tokens`` into ``num_streams`` streams of whole segments; a ValueError when not even one segment
    per stream fits (naming the values and the tokens needed)."""
    num_streams = _positive_int(num_streams, "num_streams")
    segment_length = _positive_int(segment_length, "segment_length")
    if isinstance(n_tokens, bool) or not isinstance(n_tokens, int) or n_tokens < 0:
        raise ValueError(f"n_tokens must be an int >= 0, got {n_tokens!r}")
    segments = max(n_tokens - 1, 0) // (num_streams * segment_length)
    if segments == 0:
        raise ValueError(
            f"a stream of {n_tokens} tokens is too short for num_streams={num_streams} parallel streams of at least "
            f"one segment of segment_length={segment_length}: that needs at least "
            f"{num_streams * segment_length + 1} tokens (fewer streams, i.e. a smaller batch size, or a shorter "
            "segment)"
        )
    return StreamPlan(n_tokens=n_tokens, num_streams=num_streams, segment_length=segment_length, segments=segments)


def stream_segments(examples: Mapping[str, list], segment_length: int, num_streams: int) -> dict[str, list]:
    """Batched ``datasets.map`` over a whole split (``batch_size=None``): concatenate ``input_ids`` into one token
    stream and list its segments segment-major (module docstring): ``input_ids`` and their next-token
    ``shift_labels``, ``segment_length`` each."""
    stream: Sequence[int] = [token for ids in examples["input_ids"] for token in ids]
    plan = plan_streams(len(stream), num_streams, segment_length)
    n = plan.tokens_per_stream
    inputs, targets = [], []
    for t in range(plan.segments):
        for s in range(num_streams):
            start = s * n + t * segment_length
            inputs.append(list(stream[start : start + segment_length]))
            targets.append(list(stream[start + 1 : start + 1 + segment_length]))
    return {"input_ids": inputs, "shift_labels": targets}
