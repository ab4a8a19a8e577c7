"""What a saved folder needs so that it loads where this package is not installed (`trust_remote_code=True`).

`TobigsPreTrainedModel.save_pretrained` (every `save_pretrained`, Trainer checkpoint and final output, and the Hub
export, which builds on it) writes into the folder:
- in `config.json`, the complete `auto_map`: every Auto class whose model class can read the folder's weights
  (`auto_map_for`), not only the Auto class of the saved class, so that a pre-trained MLM folder fine-tunes with
  `AutoModelForSequenceClassification` and serves `pipeline("feature-extraction")` from `AutoModel`;
- for encoder-decoder models, `custom_pipelines` (translation / summarization / text2text-generation, see
  `pipeline_tobigs.py`): transformers v5 has no such pipelines of its own;
- the model's source files (`model_code_files`): the flat model modules, exactly the ones `auto_map` and
  `custom_pipelines` point to, and everything they import.

This module is shipped with the model code. It imports the model modules inside functions only (they import
`pretrained.py`, which imports this module); transformers still finds those imports when it copies remote code, so a
model loaded from a folder has every file a new save of it needs.
"""

import os
import shutil
from pathlib import Path

from transformers.dynamic_module_utils import get_relative_import_files

# Auto class -> model class (in modeling_tobigs.py); a folder lists those whose class supports its architecture.
# The installed package registers the same pairs (tobigs_transformer/__init__.py).
AUTO_MODEL_CLASSES = {
    "AutoModel": "TobigsModel",
    "AutoModelForSeq2SeqLM": "TobigsForConditionalGeneration",
    "AutoModelForCausalLM": "TobigsForCausalLM",
    "AutoModelForMaskedLM": "TobigsForMaskedLM",
    "AutoModelForPreTraining": "TobigsForPreTraining",
    "AutoModelForNextSentencePrediction": "TobigsForNextSentencePrediction",
    "AutoModelForSequenceClassification": "TobigsForSequenceClassification",
    "AutoModelForTokenClassification": "TobigsForTokenClassification",
    "AutoModelForQuestionAnswering": "TobigsForQuestionAnswering",
    "AutoModelForMultipleChoice": "TobigsForMultipleChoice",
}
# Saved classes that no Auto class above loads: the Auto class that loads them from their own folder (as
# transformers' ELECTRA, whose discriminator is its AutoModelForPreTraining).
OWN_AUTO_CLASS = {
    "TobigsForReplacedTokenDetection": "AutoModelForPreTraining",
    "TobigsElectraForPreTraining": "AutoModelForPreTraining",
}
# Saved classes whose weights no other class reads (the joint ELECTRA model keeps its encoder under
# `discriminator.`): their folder names only their own Auto class, never a head that would start from random weights.
SELF_CONTAINED = ("TobigsElectraForPreTraining",)
CONFIG_CLASS_REFERENCE = "configuration_tobigs.TobigsConfig"
# Where the model code starts; everything else comes from their relative imports.
ROOT_MODULES = ("configuration_tobigs", "modeling_tobigs", "modeling_electra", "pipeline_tobigs", "remote_code")


def _model_classes() -> dict[str, type]:
    """Class name -> class of every model class a folder's `auto_map` may name."""
    # Imported here: modeling_tobigs imports pretrained.py, which imports this module.
    from .modeling_electra import TobigsElectraForPreTraining
    from .modeling_tobigs import (
        TobigsForCausalLM,
        TobigsForConditionalGeneration,
        TobigsForMaskedLM,
        TobigsForMultipleChoice,
        TobigsForNextSentencePrediction,
        TobigsForPreTraining,
        TobigsForQuestionAnswering,
        TobigsForReplacedTokenDetection,
        TobigsForSequenceClassification,
        TobigsForTokenClassification,
        TobigsModel,
    )

    classes = (TobigsModel, TobigsForConditionalGeneration, TobigsForCausalLM, TobigsForMaskedLM, TobigsForPreTraining,
               TobigsForNextSentencePrediction, TobigsForSequenceClassification, TobigsForTokenClassification,
               TobigsForQuestionAnswering, TobigsForMultipleChoice, TobigsForReplacedTokenDetection,
               TobigsElectraForPreTraining)
    return {cls.__name__: cls for cls in classes}


def _reference(cls: type) -> str:
    """`module.Class` as `auto_map` writes it (the module's last name: also right for remote-loaded classes)."""
    return f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}"


def auto_map_for(model_class: type | None, config) -> dict[str, str]:
    """The `auto_map` of a folder saved from `model_class` (None: a config alone) with `config`.

    `AutoConfig` plus every Auto class of `AUTO_MODEL_CLASSES` whose class supports `config.architecture`; a saved
    class that none of them loads (`OWN_AUTO_CLASS`) takes its own Auto class, and a `SELF_CONTAINED` one is the only
    model class named."""
    auto_map = {"AutoConfig": CONFIG_CLASS_REFERENCE}
    classes = _model_classes()
    name = getattr(model_class, "__name__", None)
    if name not in SELF_CONTAINED:
        for auto_class, class_name in AUTO_MODEL_CLASSES.items():
            if config.architecture in classes[class_name].supported_architectures:
                auto_map[auto_class] = _reference(classes[class_name])
    if name in OWN_AUTO_CLASS:
        auto_map[OWN_AUTO_CLASS[name]] = _reference(classes[name])
    return auto_map


def remote_code_fields(model_class: type | None, config) -> dict:
    """The `config.json` entries a folder saved from `model_class` needs: `auto_map` and, for encoder-decoder
    models, `custom_pipelines` (with `translation_<src>_to_<tgt>` when the config records a language pair)."""
    from .pipeline_tobigs import custom_pipelines_config

    fields = {"auto_map": auto_map_for(model_class, config)}
    if getattr(config, "is_encoder_decoder", False) and getattr(model_class, "__name__", None) not in SELF_CONTAINED:
        fields["custom_pipelines"] = custom_pipelines_config(
            getattr(config, "src_lang", None), getattr(config, "tgt_lang", None)
        )
    return fields


def model_code_files() -> list[Path]:
    """The model's source files: `ROOT_MODULES` and, recursively, their relative imports (as transformers resolves
    them), from the folder this module was loaded from (the package, or transformers' remote-code cache)."""
    here = Path(__file__).resolve().parent
    files = set()
    for name in ROOT_MODULES:
        root = here / f"{name}.py"
        if not root.is_file():
            raise FileNotFoundError(
                f"{root} is missing: the model code this model was loaded from is incomplete, so a folder saved from "
                f"it would not load with trust_remote_code=True"
            )
        files.add(root)
        files.update(Path(f).resolve() for f in get_relative_import_files(root))
    return sorted(files)


def save_model_code(save_directory: str | os.PathLike) -> list[str]:
    """Copy the model's source files into `save_directory`; returns their names."""
    names = []
    for file in model_code_files():
        target = Path(save_directory) / file.name
        if target.resolve() != file:  # re-saving into the folder the code was loaded from
            shutil.copyfile(file, target)
        names.append(file.name)
    return names


def missing_code_files(folder: str | os.PathLike, config_dict: dict) -> list[str]:
    """The `.py` files that `config_dict`'s `auto_map` and `custom_pipelines` point to and `folder` lacks."""
    references = list((config_dict.get("auto_map") or {}).values())
    references += [task.get("impl", "") for task in (config_dict.get("custom_pipelines") or {}).values()]
    missing = set()
    for reference in references:
        for item in reference if isinstance(reference, (list, tuple)) else [reference]:
            if isinstance(item, str) and "." in item and "--" not in item:
                module = item.rsplit(".", 1)[0]
                if not (Path(folder) / f"{module}.py").is_file():
                    missing.add(f"{module}.py")
    return sorted(missing)


__all__ = [
    "AUTO_MODEL_CLASSES",
    "OWN_AUTO_CLASS",
    "SELF_CONTAINED",
    "auto_map_for",
    "missing_code_files",
    "model_code_files",
    "remote_code_fields",
    "save_model_code",
]
