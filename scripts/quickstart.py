"""Quick start: one tiny model of each family, saved, reloaded through the Auto classes, and used.

    python scripts/quickstart.py [--output_dir runs/quickstart]

Untrained weights, so the outputs are random tokens: this shows the API, the README's main job shows training.
"""

import argparse
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSeq2SeqLM

from tobigs_transformer import (
    TobigsConfig,
    TobigsForCausalLM,
    TobigsForConditionalGeneration,
    TobigsForMaskedLM,
)

SMALL = dict(vocab_size=1000, d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
             decoder_attention_heads=4, encoder_ffn_dim=256, decoder_ffn_dim=256, max_position_embeddings=128)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", default="runs/quickstart")
    out = Path(parser.parse_args().output_dir)
    torch.manual_seed(0)
    source = torch.randint(5, 1000, (1, 8))

    families = [
        ("transformer-base", TobigsForConditionalGeneration, AutoModelForSeq2SeqLM, {}),
        ("gpt2", TobigsForCausalLM, AutoModelForCausalLM, dict(bos_token_id=1, eos_token_id=2, pad_token_id=0)),
        ("bert-base", TobigsForMaskedLM, AutoModelForMaskedLM, {}),
        ("bart-base", TobigsForConditionalGeneration, AutoModelForSeq2SeqLM,
         dict(pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2)),
    ]
    for preset, model_class, auto_class, special in families:
        config = TobigsConfig.from_preset(preset, **SMALL, **special)
        model = model_class(config)
        folder = out / preset
        model.save_pretrained(folder)
        reloaded = auto_class.from_pretrained(folder).eval()
        params = sum(p.numel() for p in reloaded.parameters())
        if model_class is TobigsForMaskedLM:
            masked = source.clone()
            masked[0, 3] = 4  # pretend id 4 is [MASK]
            guess = reloaded(masked).logits[0, 3].argmax().item()
            result = f"fill-mask at position 3 -> id {guess}"
        else:
            generated = reloaded.generate(source, max_new_tokens=6, min_new_tokens=6, num_beams=2)
            result = f"beam search -> {generated[0].tolist()}"
        print(f"{preset:<17} {type(reloaded).__name__:<31} {params / 1e6:5.2f}M params  saved to {folder}  {result}")


if __name__ == "__main__":
    main()
