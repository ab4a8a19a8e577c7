"""Pipeline and Auto-class cases, run both in the test process (package installed) and as a script in a clean
interpreter that cannot import tobigs_transformer (exported folders + trust_remote_code). Imports only
torch/transformers, so that the clean run exercises nothing but the exported code.

    python tests/pipeline_cases.py spec.json out.json      # blocks `import tobigs_transformer` first
"""

import json
import sys

SEQ2SEQ_TASKS = ["translation", "summarization", "text2text-generation", "tobigs-translation"]
GEN = dict(max_new_tokens=6, min_new_tokens=2)
MLM_TEXT = "the cat sat on the [MASK] ."
TEXTS = ["the cat sat on a mat", "birds sang over green trees near old houses", "dogs ran"]


def _floats(tensor):
    return tensor.detach().float().tolist()


def _auto_cases(entry, trust_remote_code):
    import transformers
    import torch

    path = entry["model"]
    config = transformers.AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    encoding = tokenizer(TEXTS[0], return_tensors="pt")
    saved = config.architectures[0]
    result = {"config_class": f"{type(config).__module__}.{type(config).__name__}", "loaded": {}}
    for auto_name, reference in sorted(config.auto_map.items()):
        if auto_name == "AutoConfig":
            continue
        if not entry.get("all_auto", True) and auto_name != "AutoModel" and not reference.endswith("." + saved):
            continue  # the other heads of this architecture are loaded from another entry
        # A head the checkpoint was not saved with is new (and may differ in shape from the saved head's layer).
        model = getattr(transformers, auto_name).from_pretrained(
            path, trust_remote_code=trust_remote_code, ignore_mismatched_sizes=not reference.endswith("." + saved)
        ).eval()
        result["loaded"][auto_name] = f"{type(model).__module__}.{type(model).__name__}"
        with torch.no_grad():
            if reference.endswith("." + saved):
                result["logits"] = _floats(model(**encoding).to_tuple()[0])
            if auto_name == "AutoModel":
                result["hidden"] = _floats(model(**encoding).last_hidden_state)
    return result


def _object_auto_cases(entry):
    import torch

    model, tokenizer = entry["model"], entry["tokenizer"]
    encoding = tokenizer(TEXTS[0], return_tensors="pt")
    with torch.no_grad():
        return {"logits": _floats(model(**encoding).to_tuple()[0]),
                "hidden": _floats(model.model(**encoding).last_hidden_state)}


def _pipeline(task, entry, trust_remote_code, **kwargs):
    from transformers import pipeline

    extra = {} if trust_remote_code is None else {"trust_remote_code": trust_remote_code}
    return pipeline(task, model=entry["model"], tokenizer=entry.get("tokenizer"), device="cpu", **extra, **kwargs)


def _pipeline_cases(entry, trust_remote_code):
    kind = entry["kind"]
    out = {}
    if kind == "fill-mask":
        pipe = _pipeline("fill-mask", entry, trust_remote_code)
        out["fill-mask"] = [[r["token_str"], r["score"]] for r in pipe(MLM_TEXT, top_k=3)]
        # feature-extraction returns the model's first output: give it the bare encoder (what AutoModel loads).
        base = entry if isinstance(entry["model"], str) else {**entry, "model": entry["model"].model}
        out["feature-extraction"] = _pipeline("feature-extraction", base, trust_remote_code)(TEXTS[0])
    elif kind == "text-classification":
        pipe = _pipeline("text-classification", entry, trust_remote_code)
        inputs = [{"text": TEXTS[0], "text_pair": TEXTS[1]}, {"text": TEXTS[0], "text_pair": TEXTS[2]}, TEXTS[2]]
        out["text-classification"] = [[[r["label"], r["score"]] for r in rs] for rs in pipe(inputs, top_k=None)]
    elif kind == "token-classification":
        pipe = _pipeline("token-classification", entry, trust_remote_code, aggregation_strategy="simple")
        out["token-classification"] = [
            [[e["entity_group"], e["word"], e["start"], e["end"], float(e["score"])] for e in entities]
            for entities in pipe(TEXTS[:2])
        ]
    elif kind == "text-generation":
        pipe = _pipeline("text-generation", entry, trust_remote_code)
        batched = pipe(TEXTS, batch_size=3, max_new_tokens=5, do_sample=False)
        single = [pipe(text, max_new_tokens=5, do_sample=False) for text in TEXTS]
        out["text-generation"] = {"batched": [r[0]["generated_text"] for r in batched],
                                  "single": [r[0]["generated_text"] for r in single]}
    elif kind == "seq2seq":
        pipe = _pipeline("translation", entry, trust_remote_code)
        out["translation"] = {
            "beam_batched": [r["translation_text"] for r in pipe(TEXTS, num_beams=3, batch_size=2, **GEN)],
            "beam_single": [pipe(text, num_beams=3, **GEN)[0]["translation_text"] for text in TEXTS],
            "two_sequences": [
                r["translation_text"] for r in pipe(TEXTS[0], num_beams=3, num_return_sequences=2, **GEN)
            ],
        }
        for task in SEQ2SEQ_TASKS[1:] + entry.get("extra_tasks", []):
            out[task] = _pipeline(task, entry, trust_remote_code)(TEXTS[:2], **GEN)
    return out


def run_cases(entries, trust_remote_code=None):
    """{entry name: {case: result}}; `entries` name folders (str) or carry model/tokenizer objects."""
    results = {}
    for entry in entries:
        result = {}
        if isinstance(entry["model"], str):
            result["auto"] = _auto_cases(entry, trust_remote_code)
        else:
            result["auto"] = _object_auto_cases(entry)
        result.update(_pipeline_cases(entry, entry.get("trust_remote_code", trust_remote_code)))
        results[entry["name"]] = result
    return results


def main(spec_file, out_file):
    sys.modules["tobigs_transformer"] = None  # `import tobigs_transformer` raises ImportError from here on
    try:
        import tobigs_transformer  # noqa: F401
    except ImportError:
        pass
    else:
        raise RuntimeError("tobigs_transformer is importable in the clean environment")
    import torch

    torch.manual_seed(0)
    with open(spec_file) as f:
        entries = json.load(f)
    results = run_cases(entries, trust_remote_code=True)
    results["_modules"] = sorted(m for m in sys.modules if "tobigs" in m and sys.modules[m] is not None)
    with open(out_file, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
