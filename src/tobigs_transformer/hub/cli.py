"""``tobigs export``: export a trained model folder (+ tokenizer) as a Hub-ready folder, and optionally push it.

    tobigs export --model_dir runs/transformer-ko-en --output_dir hub/transformer-ko-en \\
        --metrics_file runs/transformer-ko-en/eval_results.json --dataset_id my/ko-en --dataset_split test \\
        --language ko en --src_lang ko --tgt_lang en
    tobigs export ... --push_to_hub me/transformer-ko-en            # needs a network and a token
    tobigs export --from_folder hub/transformer-ko-en --push_to_hub me/transformer-ko-en   # push an existing export

Without `--metrics_file`, the Trainer's `eval_results.json` or `all_results.json` in `--model_dir` is used if present.
`--output_dir` must be new, empty, or (with `--overwrite`) an earlier, unchanged export; it may never be `--model_dir`
or a folder containing it. It is written beside the target and renamed into place, one export at a time.
Exit status 2 for a bad option or a missing folder, 1 for a failure while exporting or uploading; one line on stderr
(`TOBIGS_DEBUG=1` adds the traceback).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..tooling.cli import InputError, UsageError, one_line
from ..tooling.commands import Command, run_command
from ..tooling.output_folders import UnsafeOutputError, check_output_dir
from ..tooling.paths import check_local_dir

PROG = "tobigs-export"


@dataclass
class ExportArguments:
    model_dir: str | None = field(default=None, metadata={"help": "Folder of a trained model (save_pretrained)."})
    output_dir: str | None = field(default=None, metadata={"help": "Where to write the Hub-ready folder."})
    tokenizer_dir: str | None = field(default=None, metadata={"help": "Tokenizer folder (default: --model_dir)."})
    from_folder: str | None = field(default=None, metadata={"help": "Push an existing export instead of exporting."})
    metrics_file: str | None = field(default=None, metadata={"help": "JSON of recorded metrics (eval_results.json)."})
    dataset_id: str | None = field(default=None, metadata={"help": "Hub id of the dataset the metrics are on."})
    dataset_name: str | None = field(default=None, metadata={"help": "Display name of that dataset."})
    dataset_config: str | None = field(default=None, metadata={"help": "Its configuration."})
    dataset_split: str | None = field(default=None, metadata={"help": "The evaluated split."})
    model_name: str | None = field(default=None, metadata={"help": "Name in the card (default: output folder name)."})
    language: list[str] | None = field(default=None, metadata={"help": "Language codes, e.g. ko en."})
    license: str = field(default="apache-2.0", metadata={"help": "License identifier."})
    base_model: list[str] | None = field(default=None, metadata={"help": "Model(s) this one was fine-tuned from."})
    tags: list[str] | None = field(default=None, metadata={"help": "Extra card tags."})
    pipeline_tag: str | None = field(default=None, metadata={"help": "Hub task (default: from the model class)."})
    src_lang: str | None = field(default=None, metadata={"help": "Translation models: source language."})
    tgt_lang: str | None = field(default=None, metadata={"help": "Translation models: target language."})
    prefix: str | None = field(default=None, metadata={"help": "Task prefix for every pipeline input."})
    card_template: str | None = field(default=None, metadata={"help": "Jinja model-card template."})
    overwrite: bool = field(default=False, metadata={"help": "Replace --output_dir if it is an earlier, unchanged "
                                                             "export (nothing else is ever deleted)."})
    push_to_hub: str | None = field(default=None, metadata={"help": "Repository id to upload to (needs network)."})
    token: str | None = field(default=None, metadata={"help": "Hub token (default: logged-in token / HF_TOKEN)."})
    private: bool = field(default=False, metadata={"help": "Create the repository as private."})

    def __post_init__(self):
        for option in ("model_dir", "tokenizer_dir", "from_folder"):  # always local folders, never Hub ids
            value = getattr(self, option)
            check_local_dir(f"--{option}", value)
            if value is not None and not Path(value).is_dir():
                raise UsageError(f"--{option} {value!r}: no such directory")
        if self.metrics_file is not None and not Path(self.metrics_file).is_file():
            raise UsageError(f"--metrics_file {self.metrics_file!r}: no such file")
        if self.from_folder and not self.push_to_hub:
            raise UsageError("--from_folder needs --push_to_hub")
        if not self.from_folder and not (self.model_dir and self.output_dir):
            raise UsageError("give --model_dir and --output_dir (or --from_folder with --push_to_hub)")


def load_trained(model_dir: str, tokenizer_dir: str | None = None):
    """Load a trained tobigs model folder with the class it was saved from, and its tokenizer."""
    import tobigs_transformer
    from transformers import AutoConfig, AutoTokenizer

    if not (Path(model_dir) / "config.json").is_file():
        raise InputError(f"--model_dir {model_dir}: no config.json in that folder; give a folder written by "
                         "save_pretrained (a training run's --output_dir or one of its checkpoint-N folders)")
    config = AutoConfig.from_pretrained(model_dir)
    architectures = getattr(config, "architectures", None) or ["TobigsModel"]
    model_class = getattr(tobigs_transformer, architectures[0], None)
    if model_class is None:
        raise ValueError(f"{model_dir}: {architectures[0]} is not a tobigs_transformer model class")
    model = model_class.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir or model_dir)
    return model, tokenizer


def _metrics_file(args: ExportArguments) -> str | None:
    """``--metrics_file``, else the Trainer's ``eval_results.json`` / ``all_results.json`` in ``--model_dir``."""
    if args.metrics_file is not None:
        return args.metrics_file
    candidates = [Path(args.model_dir) / name for name in ("eval_results.json", "all_results.json")]
    return next((str(path) for path in candidates if path.is_file()), None)


def export(args: ExportArguments) -> int:
    from .export import export_for_hub
    from .model_card import ModelCardInfo
    from .push import push_to_hub

    folder = Path(args.from_folder) if args.from_folder else None
    if folder is None:
        try:  # before the model is even loaded
            sources = [("--model_dir", args.model_dir), ("--tokenizer_dir", args.tokenizer_dir)]
            check_output_dir(args.output_dir, sources, overwrite=args.overwrite)
        except (UnsafeOutputError, FileExistsError) as error:
            raise InputError(one_line(error)) from error
        dataset = None
        if args.dataset_id:
            dataset = {"id": args.dataset_id, "name": args.dataset_name, "config": args.dataset_config,
                       "split": args.dataset_split}
        model, tokenizer = load_trained(args.model_dir, args.tokenizer_dir)
        card = ModelCardInfo(
            model_name=args.model_name, dataset=dataset, language=args.language, license=args.license,
            base_model=args.base_model, tags=args.tags, pipeline_tag=args.pipeline_tag, src_lang=args.src_lang,
            tgt_lang=args.tgt_lang,
        )
        folder = export_for_hub(
            model, tokenizer, args.output_dir, card, metrics=_metrics_file(args), prefix=args.prefix,
            card_template=args.card_template, overwrite=args.overwrite,
        )
        print(f"exported {type(model).__name__} to {folder}")
    if args.push_to_hub:
        url = push_to_hub(folder, args.push_to_hub, token=args.token, private=args.private or None)
        print(f"uploaded {folder} to {url}")
    return 0


COMMAND = Command(arguments=(ExportArguments,), run=export, description=__doc__)


def main(argv: list[str] | None = None) -> int:
    """``tobigs export`` under its previous name ``tobigs-export`` (exit status 0, 1 or 2)."""
    return run_command(COMMAND, PROG, argv)


if __name__ == "__main__":
    raise SystemExit(main())
