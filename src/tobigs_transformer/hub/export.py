"""Turn a trained model + tokenizer into a Hub-ready folder that loads anywhere with `trust_remote_code=True`.

The folder holds:
- `model.safetensors` (or safetensors shards + index), `config.json` and `generation_config.json` (generating models);
- in `config.json`, the complete `auto_map` (every Auto class the model's architecture supports, not only the saved
  class) and, for encoder-decoder models, `custom_pipelines` (translation / summarization / text2text-generation);
- the model's source files: exactly the package's flat model modules (`EXPORTED_MODULES`), never tooling or training
  code, each importing its siblings with single-dot relative imports only;
- the tokenizer files (`tokenizer.json`, `tokenizer_config.json`);
- `README.md`, the model card with YAML metadata (see `model_card.py`).
"""

from __future__ import annotations

import ast
import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from transformers.dynamic_module_utils import get_relative_import_files
from transformers.utils import logging

from .. import AUTO_CLASSES, TobigsConfig
from ..integrity import check_model_weights
from .. import modeling_tobigs as _modeling
from .. import pipeline_tobigs as _pipelines
from .model_card import DatasetInfo, build_model_card, infer_pipeline_tag, load_metrics

logger = logging.get_logger(__name__)

PACKAGE_DIR = Path(_modeling.__file__).resolve().parent
# Entry points of the exported code; everything else comes from their relative imports.
_ROOT_MODULES = ("configuration_tobigs", "modeling_tobigs", "modeling_electra", "pipeline_tobigs")
# What an export must contain, exactly (checked against transformers' own import resolution in the tests).
EXPORTED_MODULES = (
    "configuration_tobigs.py",
    "presets.py",
    "positional_encoding.py",
    "embeddings.py",
    "finite_weights.py",
    "attention.py",
    "relative_attention.py",
    "memory.py",
    "feed_forward.py",
    "layers.py",
    "stacks.py",
    "heads.py",
    "pretrained.py",
    "losses.py",
    "chunked_loss.py",
    "rotary.py",
    "generation_tobigs.py",
    "modeling_tobigs.py",
    "modeling_electra.py",
    "pipeline_tobigs.py",
)
PACKAGE_NAME = __name__.split(".")[0]


def exported_module_files() -> list[Path]:
    """The package's model modules an export ships: the root modules and, recursively, their relative imports, as
    transformers resolves them (`get_relative_import_files`). Checks that every import is flat and single-dot."""
    files: set[Path] = set()
    for name in _ROOT_MODULES:
        root = PACKAGE_DIR / f"{name}.py"
        files.add(root)
        files.update(Path(f).resolve() for f in get_relative_import_files(root))
    for file in files:
        check_flat_imports(file)
    return sorted(files)


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


def full_auto_map(config: TobigsConfig) -> dict[str, str]:
    """`auto_map` naming every Auto class the config's architecture supports (`AUTO_CLASSES`), plus `AutoConfig`.

    `save_pretrained` alone writes only the saved class's Auto class; a folder exported from a causal LM must also
    load as `AutoModel`, `AutoModelForSequenceClassification`, ...
    """
    auto_map = {"AutoConfig": f"{_stem(TobigsConfig)}.{TobigsConfig.__name__}"}
    for auto_class, model_class in AUTO_CLASSES.items():
        if config.architecture in model_class.supported_architectures:
            auto_map[auto_class.__name__] = f"{_stem(model_class)}.{model_class.__name__}"
    return auto_map


def _stem(cls: type) -> str:
    return cls.__module__.rsplit(".", 1)[-1]


def export_for_hub(
    model,
    tokenizer,
    out_dir: str | Path,
    *,
    metrics: Mapping | str | Path | None = None,
    dataset: DatasetInfo | Mapping | str | None = None,
    model_name: str | None = None,
    language: str | Iterable[str] | None = None,
    license: str = "apache-2.0",
    base_model: str | Iterable[str] | None = None,
    tags: Iterable[str] | None = None,
    pipeline_tag: str | None = None,
    src_lang: str | None = None,
    tgt_lang: str | None = None,
    prefix: str | None = None,
    description: str | None = None,
    intended_use: str | None = None,
    training_data: str | None = None,
    training_procedure: str | None = None,
    training_hyperparameters: Mapping | None = None,
    limitations: str | None = None,
    card_template: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a Hub-ready folder for `model` (any `TobigsPreTrainedModel`) and `tokenizer` into `out_dir`.

    Args:
        metrics: the evaluation results the training run recorded: a dict or the path of a JSON file such as the
            Trainer's `eval_results.json`/`all_results.json` (`{"eval_bleu": 27.3, "eval_loss": 1.9, ...}`), optionally
            with a `"dataset"` entry (same fields as `dataset`). Every numeric `eval_*`/`test_*`/`predict_*` value
            except timings becomes one `model-index` result.
        dataset: the evaluation/training dataset: a Hub dataset id (`"wmt16"`) or a dict
            `{"id", "name", "config", "split", "revision"}` (overrides the metrics file's `"dataset"`).
        model_name: the model's name in the card and the model-index (default: the folder name).
        language, license, base_model, tags, pipeline_tag: card metadata. `pipeline_tag` defaults to the task of
            the model class (`translation` when a language pair is given for a seq2seq model).
        src_lang, tgt_lang: the direction a translation model was trained on; stored in `config.json` (the
            translation pipeline then rejects another pair) and registered as the task `translation_<src>_to_<tgt>`.
        prefix: a task prefix every pipeline input gets (stored as `config.prefix`); may contain `{src_lang}` and
            `{tgt_lang}`.
        description, intended_use, training_data, training_procedure, training_hyperparameters, limitations: card
            sections (sensible defaults per task when left out).
        card_template: a Jinja model-card template (default: see `model_card.resolve_template`).
        overwrite: replace a non-empty `out_dir` (its content is deleted first).

    Returns the folder. Does not upload: see `push_to_hub`.

    Raises `CorruptWeightsError` (a ValueError) naming the file and tensor, before writing anything, when a weight file
    the model was loaded from differs from its recorded checksum (a training checkpoint's marker, the Hub cache) or a
    weight is NaN/inf.
    """
    check_model_weights(model)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out_dir} is not empty; pass overwrite=True to replace its content")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = model.config
    if not isinstance(config, TobigsConfig):
        raise TypeError(f"export_for_hub exports tobigs_transformer models; got a {type(config).__name__} config")

    # 1. Weights (safetensors) + config + generation config. save_pretrained may copy some .py files itself.
    model.save_pretrained(out_dir)
    for stale in out_dir.glob("*.py"):
        stale.unlink()
    for unsafe in list(out_dir.glob("*.bin")) + list(out_dir.glob("*.pt")):
        raise RuntimeError(f"{unsafe.name} was written; the export must hold safetensors weights only")

    # 2. Source files: the flat model modules, nothing else.
    for file in exported_module_files():
        shutil.copyfile(file, out_dir / file.name)

    # 3. config.json: complete auto_map, custom pipelines, translation direction, task prefix.
    config_file = out_dir / "config.json"
    config_dict = json.loads(config_file.read_text(encoding="utf-8"))
    config_dict["auto_map"] = full_auto_map(config)
    if config.is_encoder_decoder:
        config_dict["custom_pipelines"] = _pipelines.custom_pipelines_config(src_lang, tgt_lang)
    elif src_lang or tgt_lang:
        raise ValueError("src_lang/tgt_lang only apply to encoder-decoder (translation) models")
    if src_lang:
        config_dict["src_lang"] = src_lang
    if tgt_lang:
        config_dict["tgt_lang"] = tgt_lang
    if prefix is not None:
        config_dict["prefix"] = prefix
    config_file.write_text(json.dumps(config_dict, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    # 4. Tokenizer.
    if tokenizer is not None:
        tokenizer.save_pretrained(out_dir)
    else:
        logger.warning("export_for_hub: no tokenizer given; the folder will not work with pipeline() or AutoTokenizer")

    # 5. Model card.
    recorded = load_metrics(metrics) if metrics is not None else {}
    pipeline_tag = pipeline_tag or infer_pipeline_tag(model, src_lang, tgt_lang)
    card = build_model_card(
        model,
        model_name=model_name or out_dir.resolve().name,
        metrics=recorded,
        dataset=dataset,
        language=language,
        license=license,
        base_model=base_model,
        tags=tags,
        pipeline_tag=pipeline_tag,
        src_lang=src_lang,
        tgt_lang=tgt_lang,
        description=description,
        intended_use=intended_use,
        training_data=training_data,
        training_procedure=training_procedure,
        training_hyperparameters=training_hyperparameters,
        limitations=limitations,
        files=sorted(p.name for p in out_dir.iterdir()) + ["README.md"],
        mask_token=getattr(tokenizer, "mask_token", None),
        template=card_template,
    )
    card.save(out_dir / "README.md")
    return out_dir


__all__ = ["EXPORTED_MODULES", "check_flat_imports", "export_for_hub", "exported_module_files", "full_auto_map"]
