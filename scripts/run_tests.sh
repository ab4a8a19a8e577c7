#!/usr/bin/env bash
# README command 2: set up (idempotent) and run the test suite offline.
#   bash scripts/run_tests.sh                       # the default run: every test not marked slow (minutes)
#   RUN_SLOW=1 bash scripts/run_tests.sh -m slow    # the slow tests only (CI runs both; .ci/run)
# Extra arguments go to pytest. Every test that takes a second or more is listed with its duration.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
# transformers' common model tests (slow) come from its source distribution (tests/interop/test_hf_common.py skips
# without them).
if [ -z "${TRANSFORMERS_TESTS_DIR:-}" ] && { [ "${RUN_SLOW:-0}" = 1 ] || [[ " $* " == *slow* ]]; }; then
  TRANSFORMERS_TESTS_DIR=$(bash scripts/get_transformers_tests.sh)
  export TRANSFORMERS_TESTS_DIR
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/python -m pytest -q --durations=0 --durations-min=1.0 "$@"
