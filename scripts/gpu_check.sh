#!/usr/bin/env bash
# The one prepared script of a GPU visit (issue 14, item 6); docs/gpu.md says what to carry and how to call it.
#
#   bash scripts/gpu_check.sh [all|bench|translate]        # default: all (~9 min worst case with the defaults)
#
# 1. stops at once (exit 2) when there is no CUDA device, before installing or building anything;
# 2. installs the carried wheels (WHEELS, default .whl/) into a private folder, offline, and records versions;
# 3. bench: benchmarks/bench_twins.py at the GPU sizes -> $OUT/twins_cuda.json (written after every measurement);
#    with RUN_ANCHORS=1 also transformers' anchor script if it was carried (ANCHORS_SCRIPT);
# 4. translate: the main job's Korean->English translator, the paper's base model, trained for TRAIN_BUDGET_S
#    seconds on the carried Bible pairs (held-out books) -> $OUT/translation.json (test BLEU/chrF, samples).
# Settings (environment): OUT (default ./gpu_out), PYTHON (python3), WHEELS (.whl), TRAIN_DATA
# (data_cache/gpu/ko_en), TRAIN_TOKENIZER (data_cache/gpu/tokenizer), BENCH_BUDGET_S (140: no measurement starts
# later), BENCH_TIMEOUT_S (210: hard stop), TRAIN_BUDGET_S (240), TRAIN_TIMEOUT_S (330), TRAIN_BATCH (128),
# TRAIN_WARMUP (1000), TRAIN_LR_SCALE (0.5: noam peak 0.5 * (512 * warmup)^-0.5 = 7e-4, the paper's peak).
# GPU_CHECK_REHEARSAL=1 rehearses every step on a CPU (bench --smoke; the translation with --use_cpu and the flags
# in TRAIN_EXTRA appended, e.g. a tiny --config_overrides): tests/benchmarks/test_bench_twins.py runs it that way.
set -uo pipefail

PHASE="${1:-all}"
case "$PHASE" in
  all|bench|translate) ;;
  *) echo "gpu_check.sh: unknown phase '$PHASE'; use all, bench or translate" >&2; exit 64 ;;
esac
PY="${PYTHON:-python3}"
OUT="${OUT:-$PWD/gpu_out}"
WHEELS="${WHEELS:-.whl}"
TRAIN_DATA="${TRAIN_DATA:-data_cache/gpu/ko_en}"
TRAIN_TOKENIZER="${TRAIN_TOKENIZER:-data_cache/gpu/tokenizer}"
BENCH_BUDGET_S="${BENCH_BUDGET_S:-140}"
BENCH_TIMEOUT_S="${BENCH_TIMEOUT_S:-210}"
TRAIN_BUDGET_S="${TRAIN_BUDGET_S:-240}"
TRAIN_TIMEOUT_S="${TRAIN_TIMEOUT_S:-330}"
TRAIN_BATCH="${TRAIN_BATCH:-128}"
TRAIN_WARMUP="${TRAIN_WARMUP:-1000}"
TRAIN_LR_SCALE="${TRAIN_LR_SCALE:-0.5}"
REHEARSAL="${GPU_CHECK_REHEARSAL:-0}"
cd "$(dirname "$0")/.." || exit 1

# 1. No GPU, no visit: say so before anything slow happens.
if [ "$REHEARSAL" = 1 ]; then
  echo "gpu_check.sh: rehearsal on CPU (GPU_CHECK_REHEARSAL=1): smoke sizes, nothing here is a GPU number"
  BENCH_ARGS=(--smoke --device cpu)
  TRAIN_DEVICE_ARGS=(--use_cpu)
else
  BENCH_ARGS=()
  TRAIN_DEVICE_ARGS=(--bf16)
  "$PY" - <<'EOF' || exit 2
import sys
try:
    import torch
except ImportError as e:
    sys.exit(f"gpu_check.sh: cannot import torch with {sys.executable} ({e}); set PYTHON to an interpreter with torch")
if not torch.cuda.is_available():
    sys.exit(f"gpu_check.sh: no CUDA device: torch.cuda.is_available() is False (torch {torch.__version__}, "
             f"CUDA build {torch.version.cuda}). This script measures on a GPU; on a CPU run "
             f"`python benchmarks/bench_twins.py --smoke` (or without --smoke for the CPU sizes).")
print(f"gpu_check.sh: {torch.cuda.get_device_name()} (torch {torch.__version__}, CUDA {torch.version.cuda})")
EOF
fi

# The translation's carried data, checked now rather than after the benchmark.
missing=""
if [ "$PHASE" != bench ]; then
  for f in "$TRAIN_DATA/train.jsonl" "$TRAIN_DATA/validation.jsonl" "$TRAIN_DATA/test.jsonl" \
           "$TRAIN_TOKENIZER/tokenizer.json"; do
    [ -f "$f" ] || missing="$missing $f"
  done
  if [ -n "$missing" ]; then
    echo "gpu_check.sh: translation skipped: not carried:$missing (docs/gpu.md, 'What to carry')" >&2
    [ "$PHASE" = translate ] && exit 4
  fi
fi
mkdir -p "$OUT"

# 2. Offline installs of what was carried, then the versions actually imported.
SITE="${TMPDIR:-/tmp}/gpu_check_site"
if compgen -G "$WHEELS/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --target "$SITE" "$WHEELS"/*.whl || {
    echo "gpu_check.sh: installing the wheels in $WHEELS failed" >&2; exit 3; }
fi
export PYTHONPATH="$SITE:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$PY" - > "$OUT/env.txt" 2>&1 <<'EOF'
import importlib, platform, torch
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
print("python", platform.python_version(), "| gpu", gpu, "| torch", torch.__version__)
for name in ("transformers", "tokenizers", "safetensors", "huggingface_hub", "accelerate", "datasets", "evaluate",
             "sacrebleu", "yaml", "matplotlib", "tobigs_transformer"):
    try:
        module = importlib.import_module(name)
        print(name, getattr(module, "__version__", "?"), module.__file__)
    except Exception as e:  # report every missing piece, not only the first
        print(name, "MISSING", repr(e)[:200])
EOF
cat "$OUT/env.txt"
"$PY" - <<'EOF' || exit 3
import sys
import transformers
major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
if (major, minor) < (5, 24):
    sys.exit(f"gpu_check.sh: transformers {transformers.__version__} < 5.24, which tobigs_transformer requires; "
             "carry the wheel in .whl/ (docs/gpu.md)")
import tobigs_transformer  # noqa: F401  (fails here, not ten minutes in)
EOF

status=0
if [ "$PHASE" != translate ]; then
  # 3. The twin benchmark: the budget decides which measurements start, the timeout is the hard stop; the JSON is
  #    rewritten after each measurement, so a stopped run keeps what it measured.
  echo "gpu_check.sh: bench_twins (budget ${BENCH_BUDGET_S}s, timeout ${BENCH_TIMEOUT_S}s)"
  timeout "$BENCH_TIMEOUT_S" "$PY" benchmarks/bench_twins.py "${BENCH_ARGS[@]}" --budget-s "$BENCH_BUDGET_S" \
    --out "$OUT/twins_cuda.json" > "$OUT/bench.log" 2>&1
  rc=$?
  tail -n 45 "$OUT/bench.log"
  [ $rc -ne 0 ] && { echo "gpu_check.sh: bench_twins exited $rc (124: timeout; partial JSON kept)" >&2; status=$rc; }
  ANCHORS_SCRIPT="${ANCHORS_SCRIPT:-.gpu/hf_twins_gpu.py}"
  if [ "${RUN_ANCHORS:-0}" = 1 ]; then
    if [ -f "$ANCHORS_SCRIPT" ]; then
      OUT="$OUT" timeout "${ANCHORS_TIMEOUT_S:-240}" "$PY" "$ANCHORS_SCRIPT" > "$OUT/anchors.log" 2>&1 \
        || echo "gpu_check.sh: $ANCHORS_SCRIPT exited $?" >&2
    else
      echo "gpu_check.sh: RUN_ANCHORS=1 but $ANCHORS_SCRIPT was not carried (docs/gpu.md)" >&2
    fi
  fi
fi

if [ "$PHASE" != bench ] && [ -z "$missing" ]; then
  # 4. The translator at GPU scale: the paper's base model (6+6 layers, d_model 512, 8 heads, d_ff 2048, label
  #    smoothing 0.1, the paper's schedule and Adam betas), beam 4, the held-out books of the demo.
  echo "gpu_check.sh: translation (budget ${TRAIN_BUDGET_S}s of training, timeout ${TRAIN_TIMEOUT_S}s)"
  MODEL_DIR="${TMPDIR:-/tmp}/gpu_check_translation"  # the weights stay on the device; $OUT gets the numbers
  timeout "$TRAIN_TIMEOUT_S" "$PY" benchmarks/gpu_translation.py --budget-s "$TRAIN_BUDGET_S" \
    --summary "$OUT/translation.json" --artifacts "$OUT/translation" -- \
    --preset transformer-base --tokenizer_name "$TRAIN_TOKENIZER" \
    --train_file "$TRAIN_DATA/train.jsonl" --validation_file "$TRAIN_DATA/validation.jsonl" \
    --test_file "$TRAIN_DATA/test.jsonl" --source_lang ko --target_lang en \
    --max_source_length 128 --max_target_length 128 --label_smoothing 0.1 \
    --lr_scheduler_type noam --warmup_steps "$TRAIN_WARMUP" --learning_rate "$TRAIN_LR_SCALE" \
    --adam_beta1 0.9 --adam_beta2 0.98 --adam_epsilon 1e-9 "${TRAIN_DEVICE_ARGS[@]}" \
    --per_device_train_batch_size "$TRAIN_BATCH" --per_device_eval_batch_size 128 --max_steps 1000000 \
    --predict_with_generate --generation_num_beams 4 --generation_max_length 128 \
    --do_train --do_eval --do_predict --eval_strategy no --save_strategy no --logging_steps 50 \
    --dataloader_num_workers 4 --report_to none --seed 0 --disable_tqdm true --output_dir "$MODEL_DIR" \
    --sample_sentences "투빅아, 나는 너를 많이 사랑해." "태초에 하나님이 천지를 창조하시니라" "너희 원수를 사랑하라" \
    ${TRAIN_EXTRA:-} > "$OUT/translate.log" 2>&1
  rc=$?
  tail -n 20 "$OUT/translate.log"
  if [ $rc -ne 0 ]; then
    echo "gpu_check.sh: translation exited $rc (124: timeout)" >&2
    [ $status -eq 0 ] && status=$rc
  fi
fi
[ -n "$missing" ] && [ $status -eq 0 ] && status=4
echo "gpu_check.sh: done (status $status); files in $OUT"
exit $status
