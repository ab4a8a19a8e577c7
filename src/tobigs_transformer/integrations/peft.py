"""Which modules parameter-efficient fine-tuning (peft: LoRA, IA3, ...) should adapt in a tobigs_transformer model.

PEFT picks default `target_modules` from `model.config.model_type`; it does not know "tobigs_transformer", and the
usual recipe `target_modules=["q_proj", "v_proj"]` does not fit our attention: self-attention projects Q, K and V
with ONE fused linear layer `qkv_proj` (W^Q, W^K, W^V stacked, model/attention.py); only cross-attention has a separate
`q_proj` (and a fused `kv_proj`). So on GPT/BERT-style models the recipe matches nothing, and on encoder-decoder
models it would silently adapt only the cross-attention queries.

This module gives the names (`lora_target_modules`), checks user-given names against a model with an error that
lists the names that exist (`check_target_modules`), and registers our defaults in peft's model-type tables
(`register_peft_target_modules`, called at `import tobigs_transformer` when peft is installed). It lives outside
`model/` because a saved folder does not need it (a folder loaded as remote code names its target modules itself),
and peft stays optional: it is imported only inside `register_peft_target_modules`.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Iterable, Sequence

from torch import nn

from ..model.configuration_tobigs import TobigsConfig

logger = logging.getLogger(__name__)

# W^Q, W^K, W^V: `qkv_proj` in every self-attention; `q_proj` and `kv_proj` in the decoder's cross-attention.
ATTENTION_MODULES = ("qkv_proj", "q_proj", "kv_proj")
# W^O. Dotted, because the RoBERTa/ELECTRA/BART classification head (`classifier.out_proj`) has an `out_proj` too.
ATTENTION_OUTPUT_MODULES = ("self_attn.out_proj", "cross_attn.out_proj")
# The position-wise feed-forward network's W_1 and W_2.
FEED_FORWARD_MODULES = ("feed_forward.fc1", "feed_forward.fc2")
LAYER_NORM_MODULES = ("self_attn_layer_norm", "cross_attn_layer_norm", "ffn_layer_norm", "final_layer_norm",
                      "embeddings.layer_norm")
PARTS = {"attention": ATTENTION_MODULES, "attention_output": ATTENTION_OUTPUT_MODULES,
         "feed_forward": FEED_FORWARD_MODULES}
_CROSS_ATTENTION_ONLY = {"q_proj", "kv_proj", "cross_attn.out_proj"}

#: What `LoraConfig()` without `target_modules` adapts once the package is imported: the attention's input
#: projections (as peft's own default for GPT-2 is its fused `c_attn`). Names absent from a model are skipped.
LORA_TARGET_MODULES = list(ATTENTION_MODULES)
#: IA3 rescales keys, values (here: the fused projections that produce them) and the feed-forward's W_2 input.
IA3_TARGET_MODULES = ["qkv_proj", "kv_proj", "feed_forward.fc2"]
IA3_FEEDFORWARD_MODULES = ["feed_forward.fc2"]

# peft's model-type tables (peft.utils.constants.TRANSFORMERS_MODELS_TO_<METHOD>_TARGET_MODULES_MAPPING) that get
# our defaults: the methods that adapt Linear layers the way LoRA does (each checked on the three architectures by
# tests/interop/test_peft_trl.py). Left out: BEFT (adapts the value projection alone, which is fused with Q and K here).
LORA_LIKE_METHODS = ("LORA", "LOHA", "LOKR", "ADALORA", "OFT", "VERA", "HRA", "FOURIERFT", "VBLORA", "RANDLORA")


def _architecture(model_or_config: nn.Module | TobigsConfig) -> str:
    config = model_or_config if isinstance(model_or_config, TobigsConfig) else getattr(model_or_config, "config", None)
    if not isinstance(config, TobigsConfig):
        raise TypeError(f"expected a tobigs_transformer model or TobigsConfig, got {type(model_or_config).__name__}")
    return config.architecture


def lora_target_modules(
    model_or_config: nn.Module | TobigsConfig, parts: Iterable[str] = ("attention",)
) -> list[str]:
    """The `target_modules` for `LoraConfig` (or any peft method that takes module names) covering `parts` of
    every layer: "attention" (W^Q, W^K, W^V; the default), "attention_output" (W^O), "feed_forward" (W_1, W_2).
    Only names that exist in this architecture are returned (cross-attention ones for encoder-decoder models);
    the classification/LM heads are never included (train them with `modules_to_save`)."""
    parts = [parts] if isinstance(parts, str) else list(parts)
    unknown = [part for part in parts if part not in PARTS]
    if unknown or not parts:
        raise ValueError(f"parts {unknown or parts} unknown; choose from {sorted(PARTS)}")
    cross_attention = _architecture(model_or_config) == "encoder-decoder"
    return [name for part in parts for name in PARTS[part] if cross_attention or name not in _CROSS_ATTENTION_ONLY]


def _matches(target: str, module_name: str) -> bool:
    # peft's rule for a list of names (tuners_utils.check_target_module_exists): the full name or a dotted suffix.
    return module_name == target or module_name.endswith("." + target)


def adaptable_module_names(model: nn.Module) -> list[str]:
    """The distinct `<parent>.<name>` suffixes of the model's Linear layers, e.g. `self_attn.qkv_proj`."""
    return sorted({".".join(name.split(".")[-2:]) for name, module in model.named_modules()
                   if isinstance(module, nn.Linear) and name})


def check_target_modules(model: nn.Module, target_modules: str | Sequence[str]) -> None:
    """Raise a ValueError naming every entry of `target_modules` (peft's list or regex form) that matches no
    module of `model`, with the Linear layers the model has. peft itself ignores unmatched entries as long as one
    entry matches, and otherwise says only "Target modules {...} not found in the base model"."""
    names = [name for name, _ in model.named_modules() if name]
    if isinstance(target_modules, str):
        if target_modules == "all-linear" or any(re.fullmatch(target_modules, name) for name in names):
            return
        shown = f"'{target_modules}'"  # the pattern as written (a list's repr would double its backslashes)
    else:
        missing = [target for target in target_modules if not any(_matches(target, name) for name in names)]
        if not missing:
            return
        shown = str(missing)
    hint, suggestion = "", ""
    if isinstance(getattr(model, "config", None), TobigsConfig):
        suggestion = (f"; tobigs_transformer.integrations.peft.lora_target_modules(model) gives "
                      f"{lora_target_modules(model)} (W^Q, W^K, W^V)")
    if re.search(r"(?<![a-z])[qkv]_proj", shown):  # the usual separate W^Q/W^K/W^V names (not qkv_proj, kv_proj)
        hint = ("; self-attention projects Q, K and V with one fused `qkv_proj` (q_proj and kv_proj exist only in "
                "encoder-decoder cross-attention)")
    raise ValueError(
        f"target_modules {shown} match no module of {type(model).__name__}{hint}. Its Linear layers are "
        f"{adaptable_module_names(model)}{suggestion}"
    )


def register_peft_target_modules() -> bool:
    """Add model_type "tobigs_transformer" to peft's default target-module tables, so that `LoraConfig()` (and the
    other methods of `LORA_LIKE_METHODS`, IA3 and LayerNorm tuning) work without `target_modules`. Returns False
    when peft is not installed. Entries a user already put there are kept."""
    if importlib.util.find_spec("peft") is None:
        return False
    try:
        from peft.utils import constants
    except Exception as error:  # a peft that does not import with this transformers must not break our import
        logger.warning("peft is installed but did not import (%s); its default target modules for %s are not "
                       "registered: pass target_modules=%s", error, TobigsConfig.model_type, LORA_TARGET_MODULES)
        return False
    defaults = {f"TRANSFORMERS_MODELS_TO_{method}_TARGET_MODULES_MAPPING": LORA_TARGET_MODULES
                for method in LORA_LIKE_METHODS}
    defaults.update(TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING=IA3_TARGET_MODULES,
                    TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING=IA3_FEEDFORWARD_MODULES,
                    TRANSFORMERS_MODELS_TO_LNTUNING_TARGET_MODULES_MAPPING=list(LAYER_NORM_MODULES))
    for table_name, modules in defaults.items():
        table = getattr(constants, table_name, None)  # tables come and go between peft versions
        if isinstance(table, dict):
            # The tuner classes hold these same dict objects (e.g. LoraModel.target_module_mapping): no copy.
            table.setdefault(TobigsConfig.model_type, list(modules))
    return True
