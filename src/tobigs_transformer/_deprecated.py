"""Import paths of the previous layout, kept working for one minor version (see CHANGELOG.md).

Until 0.1 the model modules sat at the package root (`tobigs_transformer.modeling_tobigs`, ...); they now live in
`tobigs_transformer.model`.  Importing an old path gives the new module (the same module object, so classes and
registrations are shared) with a `FutureWarning` naming the new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

PACKAGE = __name__.rpartition(".")[0]
REMOVED_IN = "0.3"
MODEL_MODULES = (
    "attention", "chunked_loss", "configuration_tobigs", "embeddings", "feed_forward", "finite_weights",
    "generation_tobigs", "heads", "layers", "losses", "memory", "modeling_electra", "modeling_tobigs",
    "pipeline_tobigs", "positional_encoding", "presets", "pretrained", "relative_attention", "remote_code", "rotary",
    "stacks",
)
#: old module path -> new module path
MOVED = {f"{PACKAGE}.{name}": f"{PACKAGE}.model.{name}" for name in MODEL_MODULES}
MOVED[f"{PACKAGE}.peft_tobigs"] = f"{PACKAGE}.integrations.peft"
# the demo is an application of the training commands, not one of them
MOVED[f"{PACKAGE}.training.demo"] = f"{PACKAGE}.experiments.demo"
MOVED[f"{PACKAGE}.training.ctrl_domains"] = f"{PACKAGE}.experiments.ctrl_domains"


class _Alias(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec):
        warnings.warn(f"{spec.name} moved to {self.new}; the old path is removed in {PACKAGE} {REMOVED_IN}",
                      FutureWarning, stacklevel=2)
        return importlib.import_module(self.new)

    def exec_module(self, module) -> None:  # the new module is already executed
        pass


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the old paths of `MOVED` (only those) and loads them as their new modules."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(MOVED[fullname]))


def install() -> None:
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
