"""`tobigs convert`: convert `save_pretrained` folders between transformers' families (GPT-1, GPT-2, CTRL, BERT,
RoBERTa, ALBERT, ELECTRA, BART, Marian, Pegasus) and ours.

    tobigs convert --from-hf path/to/gpt2 --output_dir gpt2-tobigs      # GPT2LMHeadModel  -> TobigsForCausalLM
    tobigs convert --to-hf gpt2-tobigs --output_dir gpt2-again          # TobigsForCausalLM -> GPT2LMHeadModel
    tobigs convert --from-hf path/to/bert --output_dir bert-mlm --target BertForMaskedLM

The class to read is the first entry of the folder's `config.json` `architectures` unless `--target` names one
(for `--from-hf` a transformers class such as `BertForMaskedLM`, or the tobigs class wanted such as
`TobigsForMaskedLM`; for `--to-hf` the transformers class, or a family name: gpt2, openai-gpt, ctrl, bert, roberta,
albert, electra, bart, marian, pegasus).
Tokenizer files are copied along. Works offline on local folders; a Hub model id works where a network is.

`--output_dir` must be new, empty, or (with `--overwrite`) an earlier, unchanged output of `tobigs convert` or
`tobigs export`; never the folder being converted or one containing it. Everything is checked and converted first,
then written beside the target and renamed into place (a kill leaves the old folder or the complete new one), one
writer at a time.

Exit status 2 with one line on stderr for a bad option, a missing folder or a model that cannot be converted; 1 for
any other failure (``TOBIGS_DEBUG=1`` adds the traceback).  ``--out`` is the previous release's spelling of
``--output_dir`` (kept for one release).
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
import transformers

import tobigs_transformer

from ..tooling.cli import InputError, UsageError, one_line
from ..tooling.commands import Command, execute, run_command
from ..tooling.output_folders import UnsafeOutputError, atomic_output, check_output_dir
from ..tooling.paths import check_local_dir
from .api import FAMILIES, convert_from_hf, convert_to_hf, family_of_hf_config
from .errors import ConversionError

PROG = "tobigs-convert"

TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
    "merges.txt", "vocab.txt", "source.spm", "target.spm", "spiece.model", "sentencepiece.bpe.model",
    "tokenizer.model",
)


@dataclass
class ConvertArguments:
    output_dir: str | None = field(
        default=None,
        metadata={"aliases": ["--out"], "help": "Where to write the converted folder (required; --out: deprecated "
                                                "spelling)."},
    )
    from_hf: str | None = field(
        default=None, metadata={"help": "A transformers save_pretrained folder (or Hub id) to import."}
    )
    to_hf: str | None = field(
        default=None, metadata={"help": "A tobigs_transformer save_pretrained folder to export."}
    )
    target: str | None = field(
        default=None,
        metadata={"help": "Class to read (--from-hf) or write (--to-hf; or a family: gpt2, openai-gpt, ctrl, bert, "
                          "roberta, albert, electra, bart, marian, pegasus); "
                          "default: the folder's architectures entry."},
    )
    verify: bool = field(
        default=False, metadata={"help": "Run both models on a random batch and report the largest logit difference."}
    )
    overwrite: bool = field(
        default=False,
        metadata={"help": "Replace --output_dir if it is an earlier, unchanged output of tobigs convert/export "
                          "(nothing else is ever deleted)."},
    )

    def __post_init__(self):
        if self.from_hf is not None and self.to_hf is not None:
            raise UsageError("argument --to-hf: not allowed with argument --from-hf (give one folder to convert)")
        if self.from_hf is None and self.to_hf is None:
            raise UsageError("give the folder to convert: --from-hf DIR (import) or --to-hf DIR (export)")
        if self.output_dir is None:
            raise UsageError("the following arguments are required: --output_dir")
        check_local_dir("--from-hf" if self.from_hf is not None else "--to-hf", self.source)

    @property
    def source_option(self) -> str:
        return "--from-hf" if self.from_hf is not None else "--to-hf"

    @property
    def source(self) -> str:
        return self.from_hf if self.from_hf is not None else self.to_hf


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


def _load_and_convert(args: ConvertArguments):
    """(source model, converted model); a model that cannot be converted is an :class:`InputError`."""
    if Path(args.source).is_dir() and not (Path(args.source) / "config.json").is_file():
        raise InputError(f"{args.source_option} {args.source}: no config.json in that folder; give a folder "
                         "written by save_pretrained")
    config = transformers.AutoConfig.from_pretrained(args.source)
    try:
        if args.from_hf is not None:
            hf_class = _hf_class_for_import(config, args.target)
            source = getattr(transformers, hf_class).from_pretrained(args.source)
            return source, convert_from_hf(source)
        if not isinstance(config, tobigs_transformer.TobigsConfig):
            raise ConversionError(f"{args.source} holds a {config.model_type!r} model, not a tobigs_transformer one")
        source = getattr(tobigs_transformer, _architecture(config) or "TobigsModel").from_pretrained(args.source)
        if args.target is not None and args.target not in FAMILIES and not hasattr(transformers, args.target):
            raise ConversionError(f"unknown --target {args.target!r}")
        return source, convert_to_hf(source, target=args.target)
    except ConversionError as error:
        raise InputError(one_line(error)) from error


def convert(args: ConvertArguments) -> int:
    sources = [(args.source_option, args.source)]
    try:  # before anything is loaded or written
        check_output_dir(args.output_dir, sources, overwrite=args.overwrite)
    except (UnsafeOutputError, FileExistsError) as error:
        raise InputError(one_line(error)) from error
    source, converted = _load_and_convert(args)
    out = Path(args.output_dir)
    with atomic_output(out, sources, overwrite=args.overwrite, written_by="tobigs convert") as folder:
        converted.save_pretrained(folder)
        copied = _copy_tokenizer(args.source, folder)
    print(f"converted {type(source).__name__} ({args.source}) -> {type(converted).__name__} ({out})")
    print(f"tokenizer files: {', '.join(copied) if copied else 'none'}")
    if args.verify:
        print(f"max |logits difference| on a random batch: {max_difference(source, converted):.3e}")
    return 0


COMMAND = Command(arguments=(ConvertArguments,), run=convert, description=__doc__)


def main(argv: list[str] | None = None) -> int:
    """``tobigs convert`` under its previous name ``tobigs-convert`` (exit status 0, 1 or 2)."""
    return run_command(COMMAND, PROG, argv)


def _main(argv: list[str] | None) -> int:
    """Parse and convert; errors raise (for Python callers)."""
    return execute(COMMAND, argv, PROG)


if __name__ == "__main__":
    raise SystemExit(main())
