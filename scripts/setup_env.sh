#!/usr/bin/env bash
# Create .venv (if missing) and install the package with its test extras.
# The CPU build of torch is installed first and pinned: a bare `torch` requirement on a machine without torch would
# pull a multi-GB CUDA build. On a GPU machine, install the torch build you want first; the package accepts any
# torch >= 2.4, < 3.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
fi
.venv/bin/python -m pip install --quiet -e ".[test,viz]"
.venv/bin/python -c "import torch, transformers, tobigs_transformer; print('torch', torch.__version__, '| transformers', transformers.__version__, '| tobigs_transformer', tobigs_transformer.__version__)"
