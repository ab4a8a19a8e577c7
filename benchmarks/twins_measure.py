"""How `bench_twins.py` measures: interleaved timing, a training step, a `generate` call, peak memory.

Timing: both sides (ours, the transformers twin) run in one process on the same inputs; each is called once alone
(`first_call_s`, where torch.compile's cost lands), then warmed up, then timed in alternating order (A B, B A, ...)
so that neither always runs second; the median of the repeats is reported. CUDA work is synchronised per call.

Memory of a training step:
  - CPU: the rise of the peak resident set size (VmHWM, reset through /proc/self/clear_refs after glibc
    malloc_trim) over the resident size just before one step that follows a warm-up step, i.e. activations,
    gradients and temporaries. Measured in a fresh Python process per model (`--memory-probe`), so one model's
    freed pages cannot hide the other's allocations. (A fork would be cheaper but hangs in GNU OpenMP.)
  - CUDA: torch.cuda.max_memory_allocated() during one step after reset_peak_memory_stats(), minus what was
    allocated before it (the rise), plus this model's parameters and optimizer state (its own total).
"""

from __future__ import annotations

import ctypes
import gc
import json
import statistics
import subprocess
import sys
import threading
import time
from typing import Callable

import torch

MIB = 2**20
PROBE_TAG = "MEMORY_PROBE "
MEMORY_METHOD = {
    "cpu": "rise of the peak resident set size (VmHWM reset via /proc/self/clear_refs, after malloc_trim) over "
           "the resident size during one train step after a warm-up step, one fresh process per model",
    "cuda": "torch.cuda.max_memory_allocated() during one train step after reset_peak_memory_stats(): its rise "
            "over what was allocated before, plus the model's parameters and AdamW state (the model's own total)",
}


class Budget:
    """Wall-clock seconds left for measurements (None: unlimited); later measurements are skipped, not cut."""

    def __init__(self, seconds: float | None):
        self.end = None if seconds is None else time.monotonic() + seconds

    def expired(self) -> bool:
        return self.end is not None and time.monotonic() >= self.end


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def time_interleaved(fns: dict[str, Callable[[], object]], warmup: int, repeats: int,
                     device: torch.device) -> dict[str, dict]:
    """Per side: `first_call_s` (the first call, alone), `median_s` over `repeats` alternating calls after
    `warmup` further calls, and every timed value (`times_s`)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    names = list(fns)
    out = {name: {"first_call_s": _timed(fns[name], device), "times_s": []} for name in names}
    for i in range(warmup):
        for name in names if i % 2 == 0 else reversed(names):
            fns[name]()
    for i in range(repeats):
        for name in names if i % 2 == 0 else reversed(names):
            out[name]["times_s"].append(_timed(fns[name], device))
    for name in names:
        out[name]["median_s"] = statistics.median(out[name]["times_s"])
    return out


def train_step_fn(model: torch.nn.Module, batch: dict, device: torch.device, compiled: bool,
                  autocast_dtype: torch.dtype | None,
                  backend: str = "inductor") -> tuple[Callable[[], float], torch.optim.Optimizer]:
    """One AdamW step (forward + backward + update) on `batch`; returns the step and its optimizer."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    forward = torch.compile(model, backend=backend) if compiled else model

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            loss = forward(**batch).loss
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step, optimizer


def generate_fn(model, inputs: dict, settings: dict, store: dict, key: str) -> Callable[[], None]:
    """One `generate` call; its tokens are kept in store[key] (the last call's) to compare the two sides."""
    model.eval()

    def run() -> None:
        with torch.inference_mode():
            store[key] = model.generate(**inputs, **settings)

    return run


def state_bytes(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Parameters plus optimizer state (AdamW: two moments per parameter), as resident between steps."""
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    for state in optimizer.state.values():
        total += sum(v.numel() * v.element_size() for v in state.values() if torch.is_tensor(v))
    return total


def cuda_step_memory(step: Callable[[], object], model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     device: torch.device) -> dict[str, float]:
    """The rise of allocated CUDA memory during one step, and this model's own total (rise + state)."""
    gc.collect()
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    step()
    torch.cuda.synchronize(device)
    rise = torch.cuda.max_memory_allocated(device) - before
    return {"peak_rise_mib": rise / MIB, "peak_total_mib": (rise + state_bytes(model, optimizer)) / MIB}


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(f"{field} not in /proc/self/status")


def cpu_step_rise_mib(step: Callable[[], object]) -> float | None:
    """Rise of the peak resident set size during one call of `step`, in MiB (None without Linux' counters)."""
    try:
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current resident size
        before = _status_kib("VmRSS")
        step()
        return (_status_kib("VmHWM") - before) / 1024
    except (OSError, KeyError):
        return None


def probe_command(script: str, family: str, side: str, profile: str, threads: int) -> list[str]:
    sizes = ["--smoke"] if profile == "smoke" else ["--profile", profile]
    return [sys.executable, script, "--memory-probe", f"{family}:{side}", *sizes, "--threads", str(threads),
            "--device", "cpu"]


class ProbePool:
    """Runs the memory probes (a fresh process each, `parallel` at a time) on a background thread, so a smoke run
    can overlap them with its timing; `collect` waits and returns {(family, side): MiB, or an error string}."""

    def __init__(self, commands: dict[tuple[str, str], list[str]], parallel: int, timeout_s: float):
        self.results: dict = {}
        self._thread = threading.Thread(target=self._run, args=(dict(commands), max(1, parallel), timeout_s),
                                        daemon=True)
        self._thread.start()

    def _run(self, commands: dict, parallel: int, timeout_s: float) -> None:
        pending, running = list(commands.items()), []
        while pending or running:
            while pending and len(running) < parallel:
                key, cmd = pending.pop(0)
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                running.append((key, proc, time.monotonic()))
            for item in list(running):
                key, proc, started = item
                if proc.poll() is None and time.monotonic() - started < timeout_s:
                    continue
                if proc.poll() is None:
                    proc.kill()
                out, err = proc.communicate()
                running.remove(item)
                lines = [ln for ln in out.splitlines() if ln.startswith(PROBE_TAG)]
                if proc.returncode == 0 and lines:
                    self.results[key] = json.loads(lines[-1][len(PROBE_TAG):])["peak_rise_mib"]
                else:
                    tail = err.strip().splitlines()[-1:] or [""]
                    self.results[key] = f"probe failed (exit {proc.returncode}): {tail[0][:200]}"
            time.sleep(0.05)

    def collect(self) -> dict:
        self._thread.join()
        return self.results


__all__ = ["Budget", "MEMORY_METHOD", "PROBE_TAG", "ProbePool", "cpu_step_rise_mib", "cuda_step_memory",
           "generate_fn", "probe_command", "state_bytes", "synchronize", "time_interleaved", "train_step_fn"]
