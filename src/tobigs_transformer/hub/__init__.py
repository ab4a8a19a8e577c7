"""Hub sharing: export a trained model as a folder that loads anywhere with `trust_remote_code=True`, write its model
card, and upload it.

    from tobigs_transformer.hub import export_for_hub, push_to_hub
    folder = export_for_hub(model, tokenizer, "hub/my-model", metrics="runs/my-model/eval_results.json",
                            dataset={"id": "wmt16", "config": "ro-en", "split": "test"}, language=["ro", "en"],
                            src_lang="ro", tgt_lang="en")
    push_to_hub(folder, "me/my-model")   # HubUploadError (nothing uploaded) when offline

Tooling only: nothing here is exported with the model.
"""

from .export import EXPORTED_MODULES, check_flat_imports, export_for_hub, exported_module_files, full_auto_map
from .model_card import DatasetInfo, ModelCardInfo, build_model_card, eval_results_from_metrics, load_metrics, recorded_metrics
from .push import HubUploadError, push_to_hub
from ..tooling.output_folders import OutputInUseError, UnsafeOutputError

__all__ = [
    "EXPORTED_MODULES",
    "DatasetInfo",
    "HubUploadError",
    "ModelCardInfo",
    "OutputInUseError",
    "UnsafeOutputError",
    "build_model_card",
    "check_flat_imports",
    "eval_results_from_metrics",
    "export_for_hub",
    "exported_module_files",
    "full_auto_map",
    "load_metrics",
    "push_to_hub",
    "recorded_metrics",
]
