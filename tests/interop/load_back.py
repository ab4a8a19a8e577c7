"""Load a folder an example script wrote, with the Auto class of its task and `trust_remote_code=True`, and run one
forward pass on a sentence (run through run_example.py, so without the installed package).

Usage: python load_back.py AUTO_CLASS FOLDER
"""

import inspect
import sys

import torch
import transformers


def main() -> None:
    auto_class, folder = sys.argv[1:]
    model = getattr(transformers, auto_class).from_pretrained(folder, trust_remote_code=True).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    batch = tokenizer(["The king helps the house."], return_tensors="pt")
    if model.config.is_encoder_decoder:
        batch["decoder_input_ids"] = torch.full((1, 1), model.config.decoder_start_token_id)
    if "token_type_ids" not in inspect.signature(model.forward).parameters:
        batch.pop("token_type_ids", None)
    with torch.no_grad():
        output = model(**batch)
    first = output[0]
    if not torch.isfinite(first).all():
        raise SystemExit(f"{folder}: non-finite {type(output).__name__} output")
    print(type(model).__module__, type(model).__name__, tuple(first.shape))


if __name__ == "__main__":
    main()
