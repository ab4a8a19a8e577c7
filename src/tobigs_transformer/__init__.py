"""tobigs_transformer: the Transformer family of the ToBig's NLP lecture, from one block library, native to
Hugging Face transformers v5.

Importing the package registers `TobigsConfig` and every model with the matching `Auto*` class, and marks them for
export so that `save_pretrained` folders load with `trust_remote_code=True` where the package is not installed.

The root is the model API only.  Tooling lives in sub-packages that import the model, never the reverse, and is
imported from there: `tobigs_transformer.convert` (convert_from_hf / convert_to_hf), `.data`, `.training`, `.hub`,
`.viz`, `.experiments`, `.tooling` (the `tobigs` command line).
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForNextSentencePrediction,
    AutoModelForPreTraining,
    AutoModelForQuestionAnswering,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

from .configuration_tobigs import TobigsConfig
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
    TobigsPreTrainedModel,
    shift_tokens_right,
)

__version__ = "0.1.0"

# Auto class -> model class; also the complete `auto_map` an exported folder needs (see `AUTO_MAP`).
AUTO_CLASSES = {
    AutoModel: TobigsModel,
    AutoModelForSeq2SeqLM: TobigsForConditionalGeneration,
    AutoModelForCausalLM: TobigsForCausalLM,
    AutoModelForMaskedLM: TobigsForMaskedLM,
    AutoModelForPreTraining: TobigsForPreTraining,
    AutoModelForNextSentencePrediction: TobigsForNextSentencePrediction,
    AutoModelForSequenceClassification: TobigsForSequenceClassification,
    AutoModelForTokenClassification: TobigsForTokenClassification,
    AutoModelForQuestionAnswering: TobigsForQuestionAnswering,
    AutoModelForMultipleChoice: TobigsForMultipleChoice,
}


def _register() -> None:
    AutoConfig.register(TobigsConfig.model_type, TobigsConfig, exist_ok=True)
    TobigsConfig.register_for_auto_class()
    for auto_class, model_class in AUTO_CLASSES.items():
        auto_class.register(TobigsConfig, model_class, exist_ok=True)
        model_class.register_for_auto_class(auto_class.__name__)


_register()

# v5 removed the translation/summarization/text2text pipelines; ours take those task names back for our models.
from .pipeline_tobigs import register_pipelines  # noqa: E402

register_pipelines()

# peft (optional) learns our default target modules (qkv_proj, ...): `LoraConfig()` needs no target_modules.
from .peft_tobigs import register_peft_target_modules  # noqa: E402

register_peft_target_modules()

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
