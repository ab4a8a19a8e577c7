"""`tobigs-convert`: convert `save_pretrained` folders between transformers' GPT-2/BERT/BART/Marian and ours.

    tobigs-convert --from-hf path/to/gpt2 --out gpt2-tobigs          # GPT2LMHeadModel  -> TobigsForCausalLM
    tobigs-convert --to-hf gpt2-tobigs --out gpt2-again              # TobigsForCausalLM -> GPT2LMHeadModel
    tobigs-convert --from-hf path/to/bert --out bert-mlm --target BertForMaskedLM

The class to read is the first entry of the folder's `config.json` `architectures` unless `--target` names one
(for `--from-hf` a transformers class such as `BertForMaskedLM`, or the tobigs class wanted such as
`TobigsForMaskedLM`; for `--to-hf` the transformers class, or a family name: gpt2, bert, bart, marian).
Tokenizer files are copied along. Works offline on local folders; a Hub model id works where a network is.

Exit status 2 with one line on stderr for a bad option, a missing folder or a model that cannot be converted; 1 for
any other failure (``TOBIGS_DEBUG=1`` adds the traceback).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch
import transformers

import tobigs_transformer

from ..tooling.cli import one_line, run_cli
from ..tooling.paths import check_local_dir
from .api import FAMILIES, convert_from_hf, convert_to_hf, family_of_hf_config
from .common import ConversionError

PROG = "tobigs-convert"

TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
    "merges.txt", "vocab.txt", "source.spm", "target.spm", "spiece.model", "sentencepiece.bpe.model",
    "tokenizer.model",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Exact weight conversion between transformers' GPT-2/BERT/BART/Marian and tobigs_transformer.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-hf", metavar="DIR", help="a transformers save_pretrained folder (or Hub id) to import")
    source.add_argument("--to-hf", metavar="DIR", help="a tobigs_transformer save_pretrained folder to export")
    parser.add_argument("--out", metavar="DIR", required=True, help="where to write the converted folder")
    parser.add_argument("--target", metavar="CLASS", default=None,
                        help="class to read (--from-hf) or write (--to-hf); default: the folder's architectures")
    parser.add_argument("--verify", action="store_true",
                        help="run both models on a random batch and report the largest logit difference")
    return parser


def _architecture(config) -> str | None:
    architectures = getattr(config, "architectures", None) or []
    return architectures[0] if architectures else None


def _hf_class_for_import(config, target: str | None) -> str:
    family = family_of_hf_config(config)
    if target is None:
        name = _architecture(config) or family.pairs[0].hf_class
    elif target.startswith("Tobigs"):
        matches = [pair.hf_class for pair in family.pairs if pair.ours_class == target]
        if not matches:
            raise ConversionError(f"{family.name} has no class that converts to {target}")
        name = matches[0]
    else:
        name = target
    family.pair_for_hf(name)  # raises with the supported classes when `name` is not one
    return name


def _copy_tokenizer(source: str, out: Path) -> list[str]:
    folder = Path(source)
    if folder.is_dir():
        copied = []
        for name in TOKENIZER_FILES:
            if (folder / name).is_file():
                shutil.copy2(folder / name, out / name)
                copied.append(name)
        return copied
    try:  # a Hub id: let transformers fetch and re-save it
        tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    except Exception as error:  # noqa: BLE001 - a missing tokenizer must not fail the weight conversion
        print(f"warning: no tokenizer copied from {source}: {error}", file=sys.stderr)
        return []
    return [Path(path).name for path in tokenizer.save_pretrained(out)]


def _dummy_inputs(model, config) -> dict:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, config.vocab_size, (2, 8), generator=generator)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if getattr(config, "is_encoder_decoder", False):
        inputs["decoder_input_ids"] = ids[:, :5]
    if type(model).__name__.endswith("MultipleChoice"):
        inputs = {name: value.unsqueeze(1) for name, value in inputs.items()}
    return inputs


def max_difference(a, b) -> float:
    """Largest absolute difference between the main outputs of two twins on a random batch."""
    inputs = _dummy_inputs(a, a.config)
    with torch.no_grad():
        out_a, out_b = a.eval()(**inputs), b.eval()(**inputs)
    for name in ("logits", "prediction_logits", "start_logits", "last_hidden_state"):
        if getattr(out_a, name, None) is not None and getattr(out_b, name, None) is not None:
            return (getattr(out_a, name).float() - getattr(out_b, name).float()).abs().max().item()
    raise ValueError("no common output to compare")


def main(argv: list[str] | None = None) -> int:
    return run_cli(_main, PROG, argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    check_local_dir("--from-hf" if args.from_hf is not None else "--to-hf", args.from_hf or args.to_hf)
    out = Path(args.out)
    try:
        if args.from_hf is not None:
            source_path = args.from_hf
            config = transformers.AutoConfig.from_pretrained(source_path)
            hf_class = _hf_class_for_import(config, args.target)
            source = getattr(transformers, hf_class).from_pretrained(source_path)
            converted = convert_from_hf(source)
        else:
            source_path = args.to_hf
            config = transformers.AutoConfig.from_pretrained(source_path)
            if not isinstance(config, tobigs_transformer.TobigsConfig):
                raise ConversionError(
                    f"{source_path} holds a {config.model_type!r} model, not a tobigs_transformer one"
                )
            ours_class = _architecture(config) or "TobigsModel"
            source = getattr(tobigs_transformer, ours_class).from_pretrained(source_path)
            target = args.target
            if target is not None and target not in FAMILIES and not hasattr(transformers, target):
                raise ConversionError(f"unknown --target {target!r}")
            converted = convert_to_hf(source, target=target)
    except ConversionError as error:
        print(f"{PROG}: error: {one_line(error)}", file=sys.stderr)
        return 2

    out.mkdir(parents=True, exist_ok=True)
    converted.save_pretrained(out)
    copied = _copy_tokenizer(source_path, out)
    print(f"converted {type(source).__name__} ({source_path}) -> {type(converted).__name__} ({out})")
    print(f"tokenizer files: {', '.join(copied) if copied else 'none'}")
    if args.verify:
        print(f"max |logits difference| on a random batch: {max_difference(source, converted):.3e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
