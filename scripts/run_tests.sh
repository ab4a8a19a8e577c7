#!/usr/bin/env bash
# README command 2: set up (idempotent) and run the whole test suite offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
# transformers' common model tests come from its source distribution (tests/test_hf_common.py skips without them).
if [ -z "${TRANSFORMERS_TESTS_DIR:-}" ]; then
  TRANSFORMERS_TESTS_DIR=$(bash scripts/get_transformers_tests.sh)
  export TRANSFORMERS_TESTS_DIR
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/python -m pytest -q --durations=15 "$@"
