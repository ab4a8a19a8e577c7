"""Load `save_pretrained` folders with every Auto class of their `auto_map`, in a clean interpreter that cannot import
tobigs_transformer (run by tests/interop/test_saved_folders.py). Imports only torch/transformers and the pipeline cases.

    python tests/saved_folder_cases.py spec.json out.json
"""

import json
import os
import sys

import pipeline_cases as cases

TEXT = cases.TEXTS[0]


def _floats(tensor):
    return tensor.detach().float().tolist()


def _base(model):
    """The bare encoder/decoder stack of a head (a `TobigsModel` is its own base)."""
    return getattr(model, "model", model)


def outputs(model, encoding, head: bool = True) -> dict:
    """What a folder's models are compared on: the saved head's logits and the bare stack's hidden states (for the
    joint ELECTRA model: its discriminator's and generator's logits). `head=False`: the hidden states only (a head
    the folder was not saved with starts from random weights)."""
    import torch

    with torch.no_grad():
        if type(model).__name__ == "TobigsElectraForPreTraining":
            return {"logits": _floats(model.discriminator(**encoding).logits),
                    "generator_logits": _floats(model.generator(**encoding).logits),
                    "hidden": _floats(model.discriminator.model(**encoding).last_hidden_state)}
        if _ENCODER_STATES and type(model).__name__ == "TobigsForCausalLM":
            # The decoder alone (BartForCausalLM): the seq2seq stack's decoder states are its states over the same
            # shifted input, attending to the same encoder states (computed by the encoder it shares no weights with).
            return {"hidden": _floats(_decoder_alone(model, encoding))}
        result = {"hidden": _floats(_base(model)(**encoding).last_hidden_state)}
        if head and model is not _base(model):
            result["logits"] = _floats(model(**encoding).to_tuple()[0])
        return result


_ENCODER_STATES = {}


def _decoder_alone(model, encoding):
    """Decoder states of a causal LM over an encoder-decoder config, fed what the seq2seq stack feeds its decoder."""
    import importlib

    shift = importlib.import_module(type(model).__module__).shift_tokens_right
    config = model.config
    return model.model(
        input_ids=shift(encoding["input_ids"], config.pad_token_id, config.decoder_start_token_id),
        encoder_hidden_states=_ENCODER_STATES["states"], encoder_attention_mask=encoding["attention_mask"],
    ).last_hidden_state


def _auto(entry) -> dict:
    import transformers

    path = entry["model"]
    config = transformers.AutoConfig.from_pretrained(path, trust_remote_code=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    encoding = dict(tokenizer(TEXT, return_tensors="pt"))
    saved = config.architectures[0]
    _ENCODER_STATES.clear()
    result = {"config_class": f"{type(config).__module__}.{type(config).__name__}", "auto_map": config.auto_map,
              "loaded": {}, "hidden": {}}
    for auto_name, reference in sorted(config.auto_map.items()):
        if auto_name == "AutoConfig":
            continue
        own = reference.endswith("." + saved)
        model = getattr(transformers, auto_name).from_pretrained(
            path, trust_remote_code=True, ignore_mismatched_sizes=not own).eval()
        result["loaded"][auto_name] = f"{type(model).__module__}.{type(model).__name__}"
        if auto_name == "AutoModel" and config.is_encoder_decoder:  # sorted: AutoModel comes before the decoder alone
            with __import__("torch").no_grad():
                _ENCODER_STATES["states"] = model.get_encoder()(**encoding).last_hidden_state
        got = outputs(model, encoding, head=own)
        result["hidden"][auto_name] = got["hidden"]  # every head reads the saved weights, not random ones
        if own:
            result["own"] = got
            if entry.get("resave"):  # a remote-loaded model saves a folder that loads again, by every Auto class
                again = os.path.join(entry["resave"])
                model.save_pretrained(again)
                tokenizer.save_pretrained(again)
                result["resaved"] = _auto({"model": again})
    return result


def _missing_code(entry) -> dict:
    import transformers

    try:
        transformers.AutoModel.from_pretrained(entry["model"], trust_remote_code=True)
    except Exception as error:  # noqa: BLE001 - the error transformers gives is what is recorded
        return {"error": f"{type(error).__name__}: {error}"}
    return {"error": None}


def run(entries) -> dict:
    results = {}
    for entry in entries:
        if entry.get("missing_code"):
            results[entry["name"]] = _missing_code(entry)
            continue
        result = {"auto": _auto(entry)}
        if entry.get("kind"):
            result.update(cases._pipeline_cases(entry, True))
        results[entry["name"]] = result
    return results


def main(spec_file, out_file):
    sys.modules["tobigs_transformer"] = None  # `import tobigs_transformer` raises ImportError from here on
    import torch

    torch.manual_seed(0)
    with open(spec_file) as f:
        entries = json.load(f)
    results = run(entries)
    results["_modules"] = sorted(m for m in sys.modules if "tobigs" in m and sys.modules[m] is not None)
    with open(out_file, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
