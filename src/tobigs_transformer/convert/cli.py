"""`tobigs convert`: convert `save_pretrained` folders between transformers' families (GPT-1, GPT-2, CTRL, BERT,
RoBERTa, ALBERT, ELECTRA, BART, Marian, Pegasus) and ours.

    tobigs convert --from-hf path/to/gpt2 --output_dir gpt2-tobigs      # GPT2LMHeadModel  -> TobigsForCausalLM
    tobigs convert --to-hf gpt2-tobigs --output_dir gpt2-again          # TobigsForCausalLM -> GPT2LMHeadModel
    tobigs convert --from-hf path/to/bert --output_dir bert-mlm --target BertForMaskedLM
    tobigs convert --from-hf old/transfo-xl --output_dir xl-tobigs      # transformers 4.x TransfoXL folder
    tobigs convert --from-transfo-xl model.pt --hparams hparams.json --output_dir xl-tobigs   # the authors' weights
    tobigs convert --to-hf xl-tobigs --output_dir xl-4x --target transfo-xl            # back to a 4.x TransfoXL folder
    tobigs convert --to-hf xl-tobigs --output_dir xl-pt --target transfo-xl-authors    # model.pt + hparams.json

The class to read is the first entry of the folder's `config.json` `architectures` unless `--target` names one
(for `--from-hf` a transformers class such as `BertForMaskedLM`, or the tobigs class wanted such as
`TobigsForMaskedLM`; for `--to-hf` the transformers class, or a family name: gpt2, openai-gpt, ctrl, bert, roberta,
albert, electra, bart, marian, pegasus, or transfo-xl / transfo-xl-authors for Transformer-XL).
A folder whose config.json says `model_type: "transfo-xl"` (transformers 4.x's TransfoXLLMHeadModel, a class v5 no
longer has) is read from its files (convert/transfo_xl.py); `--from-transfo-xl` reads the authors' MemTransformerLM
state dict with its constructor arguments in `--hparams` (JSON).
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

import json
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
from .transfo_xl import convert_transfo_xl_checkpoint, export_transfo_xl

PROG = "tobigs-convert"

TRANSFO_XL_TARGETS = ("transfo-xl", "transfo-xl-authors")  # --to-hf: transformers 4.x folder, the authors' files
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
    from_transfo_xl: str | None = field(
        default=None,
        metadata={"help": "The authors' Transformer-XL state dict (a .pt/.bin/.safetensors file) to import; needs "
                          "--hparams."},
    )
    hparams: str | None = field(
        default=None,
        metadata={"help": "With --from-transfo-xl: a JSON file of the authors' MemTransformerLM arguments "
                          "(n_token, n_layer, n_head, d_model, d_head, d_inner, ...)."},
    )
    target: str | None = field(
        default=None,
        metadata={"help": "Class to read (--from-hf) or write (--to-hf; or a family: gpt2, openai-gpt, ctrl, bert, "
                          "roberta, albert, electra, bart, marian, pegasus; transfo-xl: a transformers 4.x TransfoXL "
                          "folder, transfo-xl-authors: the authors' model.pt + hparams.json); "
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
        given = [option for option, value in self._sources() if value is not None]
        if len(given) > 1:
            raise UsageError(f"argument {given[1]}: not allowed with argument {given[0]} (give one model to convert)")
        if not given:
            raise UsageError("give the folder to convert: --from-hf DIR (import) or --to-hf DIR (export)")
        if self.output_dir is None:
            raise UsageError("the following arguments are required: --output_dir")
        if (self.hparams is None) != (self.from_transfo_xl is None):
            raise UsageError("--from-transfo-xl FILE and --hparams JSON go together (the authors' state dict stores "
                             "no hyper-parameters)")
        if self.from_transfo_xl is not None:
            for option, path in (("--from-transfo-xl", self.from_transfo_xl), ("--hparams", self.hparams)):
                if not Path(path).is_file():
                    raise UsageError(f"{option} {path!r}: no such file")
        else:
            check_local_dir(self.source_option, self.source)

    def _sources(self) -> list[tuple[str, str | None]]:
        return [("--from-hf", self.from_hf), ("--to-hf", self.to_hf), ("--from-transfo-xl", self.from_transfo_xl)]

    @property
    def source_option(self) -> str:
        return next(option for option, value in self._sources() if value is not None)

    @property
    def source(self) -> str:
        return next(value for option, value in self._sources() if value is not None)


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


def _model_type(folder: str) -> str | None:
    try:
        return json.loads((Path(folder) / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None  # left to AutoConfig, which names what is wrong


def _transfo_xl(args: ConvertArguments):
    """(what was read, converted model or None, writer of the output folder) for the Transformer-XL paths."""
    try:
        if args.to_hf is not None:
            source = tobigs_transformer.TobigsForCausalLM.from_pretrained(args.to_hf)
            target = "authors" if args.target == "transfo-xl-authors" else "hf4"
            export_transfo_xl(source, None, target)  # every check before the output folder is created
            return source, None, lambda folder: export_transfo_xl(source, folder, target)
        checkpoint = args.from_transfo_xl if args.from_transfo_xl is not None else args.from_hf
        converted = convert_transfo_xl_checkpoint(checkpoint, args.hparams)
        return None, converted, converted.save_pretrained
    except (ConversionError, FileNotFoundError) as error:
        raise InputError(one_line(error)) from error


def _load_and_convert(args: ConvertArguments):
    """(source model, converted model, writer of the output folder); a model that cannot be converted is an
    :class:`InputError`."""
    if args.from_transfo_xl is not None or args.target in TRANSFO_XL_TARGETS or (
            args.from_hf is not None and _model_type(args.from_hf) == "transfo-xl"):
        return _transfo_xl(args)
    if Path(args.source).is_dir() and not (Path(args.source) / "config.json").is_file():
        raise InputError(f"{args.source_option} {args.source}: no config.json in that folder; give a folder "
                         "written by save_pretrained")
    config = transformers.AutoConfig.from_pretrained(args.source)
    try:
        if args.from_hf is not None:
            hf_class = _hf_class_for_import(config, args.target)
            source = getattr(transformers, hf_class).from_pretrained(args.source)
            converted = convert_from_hf(source)
            return source, converted, converted.save_pretrained
        if not isinstance(config, tobigs_transformer.TobigsConfig):
            raise ConversionError(f"{args.source} holds a {config.model_type!r} model, not a tobigs_transformer one")
        source = getattr(tobigs_transformer, _architecture(config) or "TobigsModel").from_pretrained(args.source)
        if args.target is not None and args.target not in FAMILIES and not hasattr(transformers, args.target):
            raise ConversionError(f"unknown --target {args.target!r}")
        converted = convert_to_hf(source, target=args.target)
        return source, converted, converted.save_pretrained
    except ConversionError as error:
        raise InputError(one_line(error)) from error


def convert(args: ConvertArguments) -> int:
    sources = [(args.source_option, args.source)]
    try:  # before anything is loaded or written
        check_output_dir(args.output_dir, sources, overwrite=args.overwrite)
    except (UnsafeOutputError, FileExistsError) as error:
        raise InputError(one_line(error)) from error
    source, converted, write = _load_and_convert(args)
    out = Path(args.output_dir)
    with atomic_output(out, sources, overwrite=args.overwrite, written_by="tobigs convert") as folder:
        write(folder)
        copied = _copy_tokenizer(args.source, folder) if Path(args.source).is_dir() or args.from_hf else []
    source_name = type(source).__name__ if source is not None else "Transformer-XL checkpoint"
    target_name = type(converted).__name__ if converted is not None else f"Transformer-XL ({args.target})"
    print(f"converted {source_name} ({args.source}) -> {target_name} ({out})")
    print(f"tokenizer files: {', '.join(copied) if copied else 'none'}")
    if args.verify and (source is None or converted is None):
        print("--verify: the Transformer-XL formats have no model class here to run; the conversion is checked by "
              "tests/convert/test_convert_transfo_xl.py against the reference outputs")
    elif args.verify:
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
