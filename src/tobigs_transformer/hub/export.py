"""Turn a trained model + tokenizer into a Hub-ready folder that loads anywhere with `trust_remote_code=True`.

The folder holds:
- `model.safetensors` (or safetensors shards + index), `config.json` and `generation_config.json` (generating models);
- in `config.json`, the complete `auto_map` (every Auto class the model's architecture supports, not only the saved
  class) and, for encoder-decoder models, `custom_pipelines` (translation / summarization / text2text-generation);
- the model's source files: every module of `tobigs_transformer/model/` (`EXPORTED_MODULES`), never tooling or
  training code, each importing its siblings with single-dot relative imports only;
- the tokenizer files (`tokenizer.json`, `tokenizer_config.json`);
- `README.md`, the model card with YAML metadata (see `model_card.py`);
- `.tobigs_output.json`, the record of what the export wrote (`tooling/output_folders.py`; not uploaded).

The weights, `config.json` (with `auto_map` and `custom_pipelines`) and the code are written by the model's own
`save_pretrained` (`remote_code.py`), exactly as for every other folder the package writes; the export adds only the
card, the tokenizer and `src_lang`/`tgt_lang`/`prefix`. Everything is checked first, then written into a temporary
folder beside `out_dir` and renamed into place (see `tooling/output_folders.py`).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from pathlib import Path

from transformers.utils import logging

from .. import TobigsConfig
from ..model import modeling_tobigs as _modeling
from ..model import remote_code as _remote_code
from ..integrity import check_model_weights
from ..tooling.output_folders import atomic_output, check_output_dir
from .model_card import ModelCardInfo, build_model_card, infer_pipeline_tag, load_metrics

logger = logging.get_logger(__name__)

PACKAGE_DIR = Path(_modeling.__file__).resolve().parent  # tobigs_transformer/model/
#: What an export must contain, exactly (checked against transformers' own import resolution in the tests): every module of `tobigs_transformer/model/` (the folder holds the model and nothing else): what a folder ships.
EXPORTED_MODULES = tuple(sorted(p.name for p in PACKAGE_DIR.glob("*.py") if p.name != "__init__.py"))
WRITTEN_BY = "tobigs export"
PACKAGE_NAME = __name__.split(".")[0]


def exported_module_files() -> list[Path]:
    """The package's model modules every saved folder ships (`remote_code.model_code_files`: the root modules and,
    recursively, their relative imports, as transformers resolves them). Checks that every import is flat and
    single-dot."""
    files = _remote_code.model_code_files()
    for file in files:
        check_flat_imports(file)
    return files


def check_flat_imports(file: str | Path) -> None:
    """Raise `ValueError` unless every package-internal import of `file` is `from .sibling import name` with the
    sibling in the same flat folder: the only form `trust_remote_code` loading resolves."""
    file = Path(file)
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    for node in ast.walk(tree):
        problem = None
        if isinstance(node, ast.ImportFrom):
            if node.level > 1:
                problem = f"'{'.' * node.level}{node.module or ''}' climbs out of the folder"
            elif node.level == 1 and not node.module:
                problem = "'from . import x' is not resolved by trust_remote_code loading"
            elif node.level == 1 and ("." in node.module or not (file.parent / f"{node.module}.py").is_file()):
                problem = f"'.{node.module}' is not a flat sibling module"
            elif node.level == 0 and node.module and node.module.split(".")[0] == PACKAGE_NAME:
                problem = f"absolute import of {node.module!r} (not importable where the package is not installed)"
        elif isinstance(node, ast.Import):
            if any(alias.name.split(".")[0] == PACKAGE_NAME for alias in node.names):
                problem = f"absolute import of {PACKAGE_NAME!r}"
        if problem:
            raise ValueError(
                f"{file.name}:{node.lineno}: {problem}; exported model code needs flat single-dot imports"
            )


def full_auto_map(config: TobigsConfig, model_class: type | None = None) -> dict[str, str]:
    """`auto_map` naming every Auto class the config's architecture supports, plus `AutoConfig`: what
    `save_pretrained` of `model_class` writes (`remote_code.auto_map_for`), so that a folder saved from a causal LM
    also loads as `AutoModel`, `AutoModelForSequenceClassification`, ..."""
    return _remote_code.auto_map_for(model_class, config)


def _local_folder(obj) -> str | None:
    """The local folder `obj` (a model or tokenizer) was loaded from, if any."""
    name = getattr(obj, "name_or_path", None)
    return name if isinstance(name, str) and name and Path(name).is_dir() else None


def export_for_hub(
    model,
    tokenizer,
    out_dir: str | Path,
    card: ModelCardInfo | None = None,
    *,
    metrics: Mapping | str | Path | None = None,
    prefix: str | None = None,
    card_template: str | Path | None = None,
    overwrite: bool = False,
    **card_fields,
) -> Path:
    """Write a Hub-ready folder for `model` (any `TobigsPreTrainedModel`) and `tokenizer` into `out_dir`.

    Args:
        card: what the model card says beyond the config (`ModelCardInfo`: model_name, dataset, language, license,
            base_model, tags, pipeline_tag, src_lang, tgt_lang and the prose sections). `model_name` defaults to the
            folder name, `pipeline_tag` to the task of the model class (`translation` when a language pair is given
            for a seq2seq model). `src_lang`/`tgt_lang` are also stored in `config.json` (the translation pipeline
            then rejects another pair) and registered as the task `translation_<src>_to_<tgt>`.
        **card_fields: any `ModelCardInfo` field as a keyword (`language=["ro", "en"]`, `src_lang="ro"`, ...), set on
            top of `card`; another keyword is a `TypeError`.
        metrics: the evaluation results the training run recorded: a dict or the path of a JSON file such as the
            Trainer's `eval_results.json`/`all_results.json` (`{"eval_bleu": 27.3, "eval_loss": 1.9, ...}`), optionally
            with a `"dataset"` entry (same fields as `ModelCardInfo.dataset`, which overrides it). Every numeric
            `eval_*`/`test_*`/`predict_*` value except timings becomes one `model-index` result.
        prefix: a task prefix every pipeline input gets (stored as `config.prefix`); may contain `{src_lang}` and
            `{tgt_lang}`.
        card_template: a Jinja model-card template (default: see `model_card.resolve_template`).
        overwrite: replace a non-empty `out_dir` that is an earlier, unchanged output of `export_for_hub` /
            `tobigs convert` (recognised by its `.tobigs_output.json`); any other folder is refused with
            `UnsafeOutputError`, nothing deleted. Without it a non-empty `out_dir` is a `FileExistsError`.

    Returns the folder. Does not upload: see `push_to_hub`.

    Raises, before writing anything: `CorruptWeightsError` (a ValueError) naming the file and tensor when a weight
    file the model was loaded from differs from its recorded checksum (a training checkpoint's marker, the Hub cache)
    or a weight is NaN/inf; `UnsafeOutputError` when `out_dir` is (or contains) the folder the model or tokenizer was
    loaded from, or is not an earlier export; `OutputInUseError` while another process writes `out_dir`. The folder
    appears complete or not at all: it is written beside `out_dir` and renamed into place.
    """
    info = (card or ModelCardInfo()).updated(**card_fields)
    src_lang, tgt_lang = info.src_lang, info.tgt_lang
    check_model_weights(model)
    config = model.config
    if not isinstance(config, TobigsConfig):
        raise TypeError(f"export_for_hub exports tobigs_transformer models; got a {type(config).__name__} config")
    if (src_lang or tgt_lang) and not config.is_encoder_decoder:
        raise ValueError("src_lang/tgt_lang only apply to encoder-decoder (translation) models; "
                         f"this is a {config.architecture} model")
    out_dir = Path(out_dir)
    # Everything that can fail without writing is checked here: the target, the metrics, the task.
    sources = [("the model's folder", _local_folder(model)), ("the tokenizer's folder", _local_folder(tokenizer))]
    check_output_dir(out_dir, sources, overwrite=overwrite, option="out_dir")
    recorded = load_metrics(metrics) if metrics is not None else {}
    info = info.updated(model_name=info.model_name or out_dir.resolve().name,
                        pipeline_tag=info.pipeline_tag or infer_pipeline_tag(model, src_lang, tgt_lang))
    if tokenizer is None:
        logger.warning("export_for_hub: no tokenizer given; the folder will not work with pipeline() or AutoTokenizer")

    with atomic_output(out_dir, sources, overwrite=overwrite, written_by=WRITTEN_BY, option="out_dir") as folder:
        _write_export(model, tokenizer, folder, src_lang=src_lang, tgt_lang=tgt_lang, prefix=prefix)
        model_card = build_model_card(
            model, info, metrics=recorded, files=sorted(p.name for p in folder.iterdir()) + ["README.md"],
            mask_token=getattr(tokenizer, "mask_token", None), template=card_template,
        )
        model_card.save(folder / "README.md")
    return out_dir


def _write_export(model, tokenizer, folder: Path, *, src_lang: str | None, tgt_lang: str | None,
                  prefix: str | None) -> None:
    """Weights, config (auto_map, custom_pipelines), code and tokenizer into the (temporary) `folder`."""
    # 1. The model's own save: safetensors weights, config.json with the complete auto_map (and custom_pipelines),
    #    generation_config.json, the model code.
    model.save_pretrained(folder)
    for unsafe in list(folder.glob("*.bin")) + list(folder.glob("*.pt")):
        raise RuntimeError(f"{unsafe.name} was written; the export must hold safetensors weights only")
    code = {p.name for p in folder.glob("*.py")}
    if code != {f.name for f in exported_module_files()}:
        raise RuntimeError(f"the saved model code {sorted(code)} is not the exported modules {EXPORTED_MODULES}")

    # 2. What only the export knows: translation direction and task prefix (custom_pipelines then also answer to
    #    translation_<src>_to_<tgt>).
    config_file = folder / "config.json"
    config_dict = json.loads(config_file.read_text(encoding="utf-8"))
    if src_lang:
        config_dict["src_lang"] = src_lang
    if tgt_lang:
        config_dict["tgt_lang"] = tgt_lang
    if prefix is not None:
        config_dict["prefix"] = prefix
    if src_lang or tgt_lang:
        from ..model.pipeline_tobigs import custom_pipelines_config

        config_dict["custom_pipelines"] = custom_pipelines_config(src_lang, tgt_lang)
    missing = _remote_code.missing_code_files(folder, config_dict)
    if missing:
        raise RuntimeError(f"config.json points to {missing}, which the export does not hold")
    config_file.write_text(json.dumps(config_dict, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    # 3. Tokenizer.
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)


__all__ = ["EXPORTED_MODULES", "check_flat_imports", "export_for_hub", "exported_module_files", "full_auto_map"]
