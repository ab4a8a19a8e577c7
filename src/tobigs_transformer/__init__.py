"""tobigs_transformer: the Transformer family of the ToBig's NLP lecture, from one block library, native to
Hugging Face transformers v5.

Importing the package registers `TobigsConfig` and every model with the matching `Auto*` class. Every folder a model
writes (`save_pretrained`, Trainer checkpoints, exports) loads with `trust_remote_code=True` where the package is not
installed: see `model/remote_code.py`.

The model lives in `tobigs_transformer.model` (flat modules: exactly what a saved folder ships); the root re-exports
its public API.  Tooling lives in sub-packages that import the model, never the reverse, and is imported from
there: `tobigs_transformer.convert` (convert_from_hf / convert_to_hf), `.data`, `.training`, `.hub`, `.viz`,
`.experiments`, `.tooling` (the `tobigs` command line).
"""

import transformers
from transformers import AutoConfig

from .model.configuration_tobigs import TobigsConfig
from .model.modeling_electra import TobigsElectraForPreTraining
from .model.modeling_tobigs import (
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
    TobigsPreTrainedModel,
    shift_tokens_right,
)
from .model import modeling_tobigs as _modeling
from .model.remote_code import AUTO_MODEL_CLASSES, OWN_AUTO_CLASS

__version__ = "0.1.0"

# Auto class -> model class: the pairs of `remote_code.AUTO_MODEL_CLASSES`, which every saved folder's `auto_map`
# also lists (for the classes that support its architecture).
AUTO_CLASSES = {
    getattr(transformers, auto_name): getattr(_modeling, class_name)
    for auto_name, class_name in AUTO_MODEL_CLASSES.items()
}


def _register() -> None:
    AutoConfig.register(TobigsConfig.model_type, TobigsConfig, exist_ok=True)
    TobigsConfig.register_for_auto_class()
    for auto_class, model_class in AUTO_CLASSES.items():
        auto_class.register(TobigsConfig, model_class, exist_ok=True)
        model_class.register_for_auto_class(auto_class.__name__)
    # Classes no Auto class maps to (ELECTRA's): marked with the Auto class their own folders name, so that
    # transformers' save copies their code too (before a `push_to_hub=True` upload); not added to any Auto mapping.
    for model_class in (TobigsForReplacedTokenDetection, TobigsElectraForPreTraining):
        model_class.register_for_auto_class(OWN_AUTO_CLASS[model_class.__name__])


_register()

# v5 removed the translation/summarization/text2text pipelines; ours take those task names back for our models.
from .model.pipeline_tobigs import register_pipelines  # noqa: E402

register_pipelines()

# peft (optional) learns our default target modules (qkv_proj, ...): `LoraConfig()` needs no target_modules.
from .integrations.peft import register_peft_target_modules  # noqa: E402

register_peft_target_modules()

# `tobigs_transformer.modeling_tobigs` and the other paths of the previous layout still import, with a FutureWarning.
from ._deprecated import install as _install_moved_modules  # noqa: E402

_install_moved_modules()

__all__ = [
    "TobigsConfig",
    "TobigsPreTrainedModel",
    "TobigsModel",
    "TobigsForConditionalGeneration",
    "TobigsForCausalLM",
    "TobigsForMaskedLM",
    "TobigsForPreTraining",
    "TobigsForNextSentencePrediction",
    "TobigsForReplacedTokenDetection",
    "TobigsElectraForPreTraining",
    "TobigsForSequenceClassification",
    "TobigsForTokenClassification",
    "TobigsForQuestionAnswering",
    "TobigsForMultipleChoice",
    "shift_tokens_right",
    "AUTO_CLASSES",
    "register_pipelines",
]
