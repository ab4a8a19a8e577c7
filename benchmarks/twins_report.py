"""Issue 14's goals as ratios to the twin, the printed table, and the section of RESULTS.md that
`bench_twins.py --update-results` regenerates (between `<!-- bench_twins:<device>:start -->` and `...:end -->`).

Every measured row holds `ours`, `twin` and `ratio` = ours / twin in the row's unit: tokens/s (higher is better)
or MiB (lower is better). A goal is a threshold on such a ratio, e.g. "training step ≤ 0.85× the twin's time"
is tokens/s ratio ≥ 1/0.85.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

SECTION_TITLE = "## 4. Twins, one script, any device (issue 14)"
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class Goal:
    id: str
    device: str
    text: str  # as the issue states it
    target: float  # threshold on ours/twin of the compared metric
    higher_is_better: bool


GOALS = (
    Goal("cpu-train-time", "cpu", "training step ≤ 0.85× the twin's time (GPT-2, BART)", 1 / 0.85, True),
    Goal("cpu-train-memory", "cpu", "peak training memory ≤ 0.6× (vocab ≥ 32k, length ≥ 256)", 0.6, False),
    Goal("cpu-greedy-b1", "cpu", "greedy batch 1 ≤ 0.6× the twin's default generate time", 1 / 0.6, True),
    # issue 22: the default call on both sides (dynamic cache, eager), every generating family
    Goal("cpu-default-greedy-b1", "cpu", "issue 22: default generate(), greedy batch 1 ≤ 0.6× the twin's time",
         1 / 0.6, True),
    Goal("cpu-default-beam4", "cpu", "issue 22: default generate(), beam-4 ≤ 0.6× the twin's time", 1 / 0.6, True),
    Goal("cpu-train-time-s2s", "cpu", "issue 22: training ≥ 1.18× the twin's tokens/s (BART, Pegasus, Transformer)",
         1.18, True),
    Goal("gpu-train-eager", "cuda", "training ≥ 1.3× the twin's eager throughput", 1.3, True),
    Goal("gpu-train-compiled", "cuda", "training ≥ 1.1× the twin's compiled throughput", 1.1, True),
    Goal("gpu-gpt2-mfu", "cuda", "GPT-2 124M compiled MFU ≥ 50%", 0.5, True),
    Goal("gpu-greedy-b1", "cuda", "batch-1 greedy ≥ 2× the twin's static-cache generation", 2.0, True),
    Goal("gpu-train-memory", "cuda", "peak training memory ≤ the twin's", 1.0, False),
)


def met(value: float | None, goal: Goal) -> bool | None:
    if value is None or not math.isfinite(value):
        return None
    return value >= goal.target if goal.higher_is_better else value <= goal.target


def _find(rows: list[dict], family: str, workload: str, mode: str) -> dict | None:
    for row in rows:
        if row["family"] == family and row["workload"] == workload and row["mode"] == mode and row.get("ok"):
            return row
    return None


def _ratio_entry(goal: Goal, family: str, compared: str, value: float | None, ours=None, twin=None,
                 unit: str = "") -> dict:
    return dict(goal=goal.id, text=goal.text, family=family, compared=compared, ours=ours, twin=twin, unit=unit,
                value=value, target=goal.target, higher_is_better=goal.higher_is_better, met=met(value, goal))


def _best_b1(rows: list[dict], family: str) -> dict | None:
    candidates = [r for r in rows if r["family"] == family and r["workload"] == "greedy b1" and r.get("ok")]
    return max(candidates, key=lambda r: r["ours"], default=None)


def evaluate_goals(rows: list[dict], families: list[dict], device: str) -> list[dict]:
    """One entry per (goal, family) that this run measured, plus the exactness checks."""
    out = []
    by_name = {f["family"]: f for f in families}
    for goal in (g for g in GOALS if g.device == device):
        for name, fam in by_name.items():
            shape = fam["shape"]
            if (goal.id == "cpu-train-time" and name in ("gpt2", "bart")) or (
                    goal.id == "cpu-train-time-s2s" and name in ("bart", "pegasus", "marian")):
                row = _find(rows, name, "train", "eager")
                if row:
                    out.append(_ratio_entry(goal, name, "train tokens/s, eager vs eager", row["ratio"],
                                            row["ours"], row["twin"], row["unit"]))
            elif goal.id in ("cpu-train-memory", "gpu-train-memory"):
                big = shape["vocab"] >= 32000 and max(shape["length"], shape["target_length"]) >= 256
                if goal.id == "cpu-train-memory" and not big:
                    continue
                for mode in ("eager", "compiled"):
                    row = _find(rows, name, "train memory", mode)
                    if row:
                        out.append(_ratio_entry(goal, name, f"peak step memory, {mode}", row["ratio"],
                                                row["ours"], row["twin"], row["unit"]))
            elif goal.id in ("cpu-greedy-b1", "gpu-greedy-b1"):
                twin_mode = "dynamic" if goal.id == "cpu-greedy-b1" else "static_compiled"
                reference = _find(rows, name, "greedy b1", twin_mode)
                if reference is None and goal.id == "gpu-greedy-b1":
                    twin_mode, reference = "static", _find(rows, name, "greedy b1", "static")
                best = _best_b1(rows, name)
                if reference and best:
                    value = best["ours"] / reference["twin"]
                    out.append(_ratio_entry(goal, name, f"ours {best['mode']} vs twin {twin_mode}", value,
                                            best["ours"], reference["twin"], best["unit"]))
            elif goal.id in ("cpu-default-greedy-b1", "cpu-default-beam4"):
                beam = goal.id.endswith("beam4")
                row = next((r for r in rows if r["family"] == name and r["mode"] == "dynamic" and r.get("ok")
                            and (r["workload"].startswith("beam4 ") if beam else r["workload"] == "greedy b1")), None)
                if row:
                    out.append(_ratio_entry(goal, name, f"{row['workload']}, ours default vs twin default", row["ratio"],
                                            row["ours"], row["twin"], row["unit"]))
            elif goal.id in ("gpu-train-eager", "gpu-train-compiled"):
                mode = goal.id.rsplit("-", 1)[1]
                row = _find(rows, name, "train", mode)
                if row:
                    out.append(_ratio_entry(goal, name, f"train tokens/s, {mode} vs {mode}", row["ratio"],
                                            row["ours"], row["twin"], row["unit"]))
            elif goal.id == "gpu-gpt2-mfu" and name == "gpt2":
                row = _find(rows, name, "train", "compiled")
                if row and row.get("mfu_ours") is not None:
                    out.append(_ratio_entry(goal, name, "ours compiled MFU (absolute, not a ratio)",
                                            row["mfu_ours"], row["mfu_ours"], row["mfu_twin"], "MFU"))
    for name, fam in by_name.items():
        out.append(dict(goal="exact-logits", text="identical logits (converted weights)", family=name,
                        compared=f"max |Δlogit| {fam['max_abs_logit_diff']:.1e} ≤ {fam['logit_atol']:.0e}",
                        ours=None, twin=None, unit="", value=fam["max_abs_logit_diff"], target=fam["logit_atol"],
                        higher_is_better=False, met=fam["logits_match"]))
        same = [r["same_tokens"] for r in rows if r["family"] == name and r.get("same_tokens") is not None]
        if same:
            out.append(dict(goal="exact-tokens", text="identical generated tokens, every mode", family=name,
                            compared=f"{sum(same)}/{len(same)} modes", ours=None, twin=None, unit="",
                            value=float(all(same)), target=1.0, higher_is_better=True, met=all(same)))
    return out


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "–"
    if unit == "MFU":
        return f"{100 * value:.1f}%"
    if isinstance(value, float) and (abs(value) >= 100 or value == 0):
        return f"{value:,.0f}"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _goal_text(goal: dict) -> str:
    if goal["goal"].startswith("exact"):
        return goal["text"]
    op = "≥" if goal["higher_is_better"] else "≤"
    return f"{goal['text']} (ratio {op} {goal['target']:.3g})"


def _met_text(value: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "–"}[value]


def goals_table(goals: list[dict]) -> list[str]:
    lines = ["| goal (issue 14 unless named) | family | compared | ours | twin | ours/twin | met |",
             "|---|---|---|---|---|---|---|"]
    for g in goals:
        value = "–" if g["goal"].startswith("exact") else _fmt(g["value"], "MFU" if g["unit"] == "MFU" else "")
        lines.append(f"| {_goal_text(g)} | {g['family']} | {g['compared']} | {_fmt(g['ours'], g['unit'])} | "
                     f"{_fmt(g['twin'], g['unit'])} | {value} | {_met_text(g['met'])} |")
    return lines


def rows_table(rows: list[dict]) -> list[str]:
    lines = ["| family | workload | mode | unit | ours | twin | ours/twin | first call ours / twin (s) "
             "| same tokens | load |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        load = "" if r.get("load_1m") is None else f"{r['load_1m']:.1f}"
        if not r.get("ok"):
            lines.append(f"| {r['family']} | {r['workload']} | {r['mode']} | | | | | {r.get('status', '')} | "
                         f"| {load} |")
            continue
        first = ("–" if r.get("ours_first_call_s") is None
                 else f"{r['ours_first_call_s']:.2f} / {r['twin_first_call_s']:.2f}")
        same = {True: "yes", False: "**no**", None: ""}[r.get("same_tokens")]
        extra = ""
        if r.get("mfu_ours") is not None:
            extra = f" (MFU {100 * r['mfu_ours']:.1f}% / {100 * r['mfu_twin']:.1f}%)"
        lines.append(f"| {r['family']} | {r['workload']} | {r['mode']} | {r['unit']} | {_fmt(r['ours'])} | "
                     f"{_fmt(r['twin'])} | {r['ratio']:.2f}{extra} | {first} | {same} | {load} |")
    return lines


def _ms_cells(row: dict | None) -> tuple[str, str]:
    """`ours / twin` milliseconds per call and their ratio (lower is better), or dashes when not measured."""
    if row is None or row.get("ours_median_s") is None:
        return "–", "–"
    ours, twin = 1000 * row["ours_median_s"], 1000 * row["twin_median_s"]
    return f"{ours:,.0f} / {twin:,.0f}", f"{ours / twin:.2f}"


def time_table(rows: list[dict], families: list[dict]) -> list[str]:
    """Per family, as times: one eager training step, one batch-1 greedy `generate` call (dynamic cache) and the
    step's peak memory, ours / twin; every ratio here is ours / twin of a cost, so lower is better."""
    lines = ["| family | transformers class | train step ms, ours / twin | ratio | greedy b1 generate ms, ours / twin "
             "| ratio | peak step memory MiB, ours / twin | ratio |",
             "|---|---|---|---|---|---|---|---|"]
    for fam in families:
        name = fam["family"]
        train = _ms_cells(_find(rows, name, "train", "eager"))
        greedy_row = _find(rows, name, "greedy b1", "dynamic")
        greedy = _ms_cells(greedy_row)
        if greedy_row is not None:
            greedy = (f"{greedy[0]} ({greedy_row['new_tokens']} new tokens)", greedy[1])
        memory_row = _find(rows, name, "train memory", "eager")
        memory = ("–", "–") if memory_row is None else (
            f"{memory_row['ours']:,.0f} / {memory_row['twin']:,.0f}", f"{memory_row['ratio']:.2f}")
        lines.append(f"| {name} | {fam.get('hf_class', '')} | {train[0]} | {train[1]} | {greedy[0]} | {greedy[1]} | "
                     f"{memory[0]} | {memory[1]} |")
    return lines


def compile_costs(rows: list[dict]) -> list[dict]:
    """Per generation workload with a static_compiled row: what our compiled decode step costs once (first call
    minus a steady call: the compile) and saves per new token against our eager default (dynamic cache), and the
    number of new tokens after which compiling has paid for itself (None: it never does)."""
    out = []
    for r in rows:
        if r.get("mode") != "static_compiled" or not r.get("ok"):
            continue
        eager = _find(rows, r["family"], r["workload"], "dynamic")
        static = _find(rows, r["family"], r["workload"], "static")
        if eager is None:
            continue
        compile_s = r["ours_first_call_s"] - r["ours_median_s"]
        saved_per_token = 1 / eager["ours"] - 1 / r["ours"]  # seconds per new token (all rows of the batch)
        out.append(dict(family=r["family"], workload=r["workload"], compile_s=compile_s,
                        first_call_s=r["ours_first_call_s"], compiled=r["ours"], eager_dynamic=eager["ours"],
                        eager_static=static["ours"] if static else None, speedup=r["ours"] / eager["ours"],
                        break_even_tokens=compile_s / saved_per_token if saved_per_token > 0 else None,
                        load_1m=r.get("load_1m")))
    return out


def compile_cost_table(rows: list[dict]) -> list[str]:
    costs = compile_costs(rows)
    if not costs:
        return []
    lines = ["| family | workload | ours compiled (new tok/s) | ours eager dynamic / static (new tok/s) | speed-up "
             "| first call (s) | compile ≈ first − steady (s) | pays after (new tokens) | load |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in costs:
        pays = "never" if c["break_even_tokens"] is None else f"{c['break_even_tokens']:,.0f}"
        load = "" if c["load_1m"] is None else f"{c['load_1m']:.1f}"
        lines.append(f"| {c['family']} | {c['workload']} | {_fmt(c['compiled'])} | {_fmt(c['eager_dynamic'])} / "
                     f"{_fmt(c['eager_static'])} | {c['speedup']:.2f}× | {c['first_call_s']:.2f} | "
                     f"{c['compile_s']:.2f} | {pays} | {load} |")
    return lines


def render_section(report: dict) -> list[str]:
    """The device's subsection of RESULTS.md, from the JSON report."""
    device = report["device"]
    title = report.get("title") or f"{'CPU' if device['type'] == 'cpu' else 'GPU'}: {device['name']}"
    lines = [f"### {title}", "",
             f"- Date: {report['date']}. Machine: {device['name']}, {device['description']}. "
             f"torch {report['torch']}, transformers {report['transformers']}, {report['precision']}, "
             f"{report['attn_implementation']}.",
             f"- Command: `{report['command']}` (JSON: `{report['json_path']}`).",
             f"- Sizes ({report['profile']} profile): " + "; ".join(
                 f"{f['family']}: {f['shape_text']}" for f in report["families"]) + ".",
             f"- Timing: {report['timing']}. Memory: {report['memory_method']}.",
             f"- Machine load when the run started: {report.get('load_average', 'n/a')}.", ""]
    lines += goals_table(report["goals"]) + [""]
    lines += ["Per call (median; ratios ours / twin of a time or of memory, lower is better):", ""]
    lines += time_table(report["rows"], report["families"]) + [""]
    lines += ["Every measurement (ratios ours / twin of tokens/s, higher is better, or of MiB):", ""]
    lines += rows_table(report["rows"])
    costs = compile_cost_table(report["rows"])
    if costs:
        lines += ["", "Compiled decoding, first call against steady state (ours; the compile is paid once per "
                      "batch size and cache length):", ""] + costs
    if report.get("notes"):
        lines += [""] + [f"- {note}" for note in report["notes"]]
    return lines


def _placeholder(device: str) -> list[str]:
    if device == "cuda":
        return ["### GPU", "", "Not measured yet: no GPU was lent to the sessions that built this script. "
                "`scripts/gpu_check.sh` runs it at the GPU sizes on the day one is (see `docs/gpu.md`)."]
    return ["### CPU", "", "Not measured yet: `python benchmarks/bench_twins.py --update-results`."]


def _markers(device: str) -> tuple[str, str]:
    return f"<!-- bench_twins:{device}:start -->", f"<!-- bench_twins:{device}:end -->"


def with_section(text: str) -> str:
    """`text` with this script's section and its two device blocks appended if they are not there yet."""
    if SECTION_TITLE in text:
        return text
    blocks = []
    for device in DEVICES:
        start, end = _markers(device)
        blocks += [start, *_placeholder(device), end, ""]
    intro = ("Written by `benchmarks/bench_twins.py` (`--update-results` regenerates the block of the device\n"
             "it ran on; `--from-json run.json --update-results` that of a saved run). Each transformers class\n"
             "is built with random weights and converted with `convert_from_hf`; identical logits are checked\n"
             "first, then both are timed in one process, interleaved. Ratios are ours / twin: tokens/s (higher\n"
             "is better) or MiB (lower is better); the goals are issue 14's.")
    return text.rstrip("\n") + "\n\n" + SECTION_TITLE + "\n\n" + intro + "\n\n" + "\n".join(blocks)


def update_results(path: str, report: dict) -> None:
    """Replace the report's marked block in `path` (adding the section and both device blocks the first time).

    The block is the device's (`cpu`, `cuda`) unless the report names another (`block`, e.g. `cpu-variants`): a
    named block that is not there yet is added before the GPU block, so the device blocks are never overwritten."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"results file {path!r} does not exist")
    with open(path, encoding="utf-8") as f:
        text = with_section(f.read())
    name = report.get("block") or report["device"]["type"]
    start, end = _markers(name)
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        if name in DEVICES:
            raise ValueError(f"{path} has the section title but no {start} … {end} block; restore the markers")
        gpu_start = _markers("cuda")[0]
        placeholder = f"{start}\n{end}\n\n"
        text = (text.replace(gpu_start, placeholder + gpu_start, 1) if gpu_start in text
                else text.rstrip("\n") + "\n\n" + placeholder)
    block = "\n".join([start, *render_section(report), end])
    text = pattern.sub(lambda _: block, text)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.rstrip("\n") + "\n")


__all__ = ["GOALS", "Goal", "compile_cost_table", "compile_costs", "evaluate_goals", "goals_table", "render_section",
           "rows_table", "time_table", "update_results", "with_section"]
