"""The package's layering: `model/` is the model and imports nothing else of the package; the root re-exports the
model API; imports run downward.

    model (flat modules)  <  integrations  <  the root  <  tooling plumbing, integrity, metrics  <  data  <  convert,
    hub, viz  <  training  <  experiments (the demo and the measurements, which run the training commands)  <  the
    `tobigs` front door (tooling/main.py, which reaches the commands by name only when they run)
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "tobigs_transformer"
SUBPACKAGES = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
MODEL = "model"
ROOT = "<root>"
#: A unit may import the units of lower layers (and its own).
LAYER = {MODEL: 0, "integrations": 1, ROOT: 2, "tooling": 3, "integrity": 3, "metrics": 3, "data": 4, "convert": 5,
         "hub": 5, "viz": 5, "training": 6, "experiments": 7}


def _unit(parts: list[str]) -> str:
    """The layering unit of a module path inside the package (``[]`` is the root)."""
    return parts[0] if parts and parts[0] in SUBPACKAGES else ROOT


def _imports(path: Path, root: Path = PACKAGE) -> list[tuple[int, list[str]]]:
    """(line, module path inside the package) of every import of the package in ``path`` (a file under ``root``)."""
    package = list(path.relative_to(root).parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            names = [node.module.split(".")] if node.module else [[a.name] for a in node.names]
            found += [(node.lineno, base + name) for name in names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tobigs_transformer":
            found.append((node.lineno, node.module.split(".")[1:]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[1:]) for a in node.names
                      if a.name.split(".")[0] == "tobigs_transformer"]
    return found


def _edges() -> list[tuple[str, int, str, str]]:
    """(file, line, from unit, to unit) of every import between two units."""
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _unit(list(path.relative_to(PACKAGE).parts[:-1]))
        for line, target in _imports(path):
            if _unit(target) != source:
                edges.append((str(path.relative_to(PACKAGE)), line, source, _unit(target)))
    return edges


def test_every_subpackage_has_a_layer():
    assert sorted(set(SUBPACKAGES) - set(LAYER)) == []


def test_imports_run_downward_only():
    upward = [f"{file}:{line}: {source} imports {target}" for file, line, source, target in _edges()
              if LAYER[target] >= LAYER[source]]
    assert upward == []


def test_viz_does_not_import_experiments_and_the_model_imports_no_tooling():
    edges = _edges()
    assert [e for e in edges if e[2] == "viz" and e[3] == "experiments"] == []
    assert [e for e in edges if e[2] == MODEL] == []


def test_the_checker_sees_an_upward_import(tmp_path):
    """The AST walk finds the three spellings of an import of a sub-package (a test of the test)."""
    module = tmp_path / "tobigs_transformer" / "viz" / "probe.py"
    module.parent.mkdir(parents=True)
    module.write_text("from ..experiments import rnn_vs_transformer\nfrom .. import training\n"
                      "import tobigs_transformer.hub.cli\nfrom .common import save_figure\n", encoding="utf-8")
    found = [target for _, target in _imports(module, root=tmp_path / "tobigs_transformer")]
    assert found == [["experiments"], ["training"], ["hub", "cli"], ["viz", "common"]]


def test_importing_the_package_loads_the_model_api_only():
    code = ("import sys, tobigs_transformer; "
            "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('tobigs_transformer.')}))")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = set(ast.literal_eval(proc.stdout.strip().splitlines()[-1]))
    assert loaded & set(SUBPACKAGES) == {MODEL, "integrations"}, sorted(loaded & set(SUBPACKAGES))
    assert loaded - set(SUBPACKAGES) == {"_deprecated"}


@pytest.mark.parametrize("name", ["convert_from_hf", "convert_to_hf"])
def test_converters_come_from_their_subpackage(name):
    import tobigs_transformer
    import tobigs_transformer.convert as convert

    assert name not in tobigs_transformer.__all__ and callable(getattr(convert, name))


def test_pipeline_module_is_a_flat_model_module():
    """pipeline_tobigs.py is registered at import and copied into exported folders: no package imports at all."""
    assert _imports(PACKAGE / MODEL / "pipeline_tobigs.py") == []


def test_the_model_folder_holds_flat_modules_only():
    """No sub-folder inside model/: a saved folder is flat, and model/ is exactly what it ships."""
    assert [p.name for p in (PACKAGE / MODEL).iterdir() if p.is_dir() and p.name != "__pycache__"] == []
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py", "_deprecated.py"]
