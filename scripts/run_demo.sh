#!/usr/bin/env bash
# README command 1: set up (idempotent), build the real offline corpora, train tokenizers and small models of every
# family on CPU, evaluate them, export one for the Hub and run it through pipeline(). Extra arguments go to the demo
# (e.g. --quick, --output_dir DIR); `tobigs demo --help` lists them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
.venv/bin/tobigs demo "$@"
