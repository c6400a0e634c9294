#!/usr/bin/env bash
# Re-capture every log in this folder: bash capture_all.sh [FRAMEWORK ...]
# Needs a python (PY=…, default `python`) with the libraries of README.md installed.
# Each run happens in its own scratch folder (SCRATCH=…, default /tmp/vigil-fw-scratch), with
# stdout and stderr merged into one pipe, as under a supervisor (see capture.py).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PY:-python}
SCRATCH=${SCRATCH:-/tmp/vigil-fw-scratch}
# Vigil sets PYTHONUNBUFFERED=1 for the trainers it starts (unless already set): do the same.
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
want() { [ $# -eq 0 ] || [[ " $SELECTED " == *" $1 "* ]]; }
SELECTED=" $* "
[ $# -eq 0 ] && SELECTED=""

# cap FRAMEWORK CASE-LOG [capture.py options] -- ARGS…   (runs $PY train script with ARGS)
cap() {
  local fw=$1 log=$2; shift 2
  local opts=()
  while [ "$1" != "--" ]; do opts+=("$1"); shift; done
  shift
  local dir="$SCRATCH/$fw/$log"
  rm -rf "$dir"; mkdir -p "$dir"
  "$PY" "$HERE/capture.py" "$HERE/$fw/$log.log" --cwd "$dir" "${opts[@]}" -- "$@"
}

if [ -z "$SELECTED" ] || want pytorch; then
  T=$HERE/pytorch/train_pytorch.py
  for c in normal climb nan nan-clip nan-anomaly nan-check oom bad-ckpt bad-ckpt-head bad-ckpt-mid empty-ckpt corrupt-ckpt weights-only; do
    cap pytorch "$c" --mark 'loss=nan' --mark 'loss=inf' -- "$PY" "$T" "$c"
  done
  cap pytorch oom-cap --as 5000000000 -- "$PY" "$T" oom-cap
  cap pytorch import-under-2gb-cap --as 2000000000 -- "$PY" "$T" oom-cap
  # the same loop without PYTHONUNBUFFERED: print() output is block-buffered in the pipe
  cap pytorch nan-buffered --unset PYTHONUNBUFFERED --mark 'loss=nan' --mark 'loss=inf' -- "$PY" "$T" nan
fi

if [ -z "$SELECTED" ] || want numpy; then
  T=$HERE/numpy/train_numpy.py
  for c in normal nan oom oom-zeros memoryerror list-oom bad-ckpt bad-npy; do
    cap numpy "$c" -- "$PY" "$T" "$c"
  done
  cap numpy oom-cap --as 2000000000 -- "$PY" "$T" oom-cap
  # numpy 1.x names the module differently (numpy.core, not numpy._core): PY_NUMPY1=… a python with numpy<2
  if [ -n "${PY_NUMPY1:-}" ]; then
    cap numpy oom-numpy1 -- "$PY_NUMPY1" "$T" oom
    cap numpy nan-numpy1 -- "$PY_NUMPY1" "$T" nan
    cap numpy bad-npy-numpy1 -- "$PY_NUMPY1" "$T" bad-npy
  fi
fi

# Lightning picks RichProgressBar when `rich` is installed (huggingface_hub pulls it in through
# typer) and TQDMProgressBar when it is not: LIGHTNING_RICH=1 captures the *-rich logs (rich
# installed), LIGHTNING_RICH=0 the others (run after `pip uninstall rich`).
if [ -z "$SELECTED" ] || want lightning; then
  T=$HERE/lightning/train_lightning.py
  if [ "${LIGHTNING_RICH:-0}" = 1 ]; then
    for c in normal climb nan nan-earlystop-verbose oom; do
      cap lightning "$c-rich" --tail 60 --mark 'Epoch 0' --mark 'Epoch 2' --mark 'train_loss' -- "$PY" "$T" "$c"
    done
  else
    cap lightning nan-anomaly --tail 100 -- "$PY" "$T" nan-anomaly
    cap lightning nan --tail 22 --mark 'Epoch 0' --mark 'Epoch 2' --mark 'train_loss=nan' -- "$PY" "$T" nan
    cap lightning nan-earlystop --tail 22 --mark 'Epoch 0' --mark 'train_loss=nan' -- "$PY" "$T" nan-earlystop
    for c in normal normal-noprog climb nan-earlystop-verbose oom; do
      cap lightning "$c" --tail 200 --mark 'Epoch 0' --mark 'Epoch 2' --mark 'train_loss=nan' -- "$PY" "$T" "$c"
    done
    cap lightning bad-ckpt --tail 45 -- "$PY" "$T" bad-ckpt
    cap lightning bad-last --tail 45 -- "$PY" "$T" bad-last
    cap lightning last-not-found --tail 36 -- "$PY" "$T" last-not-found
  fi
fi

if [ -z "$SELECTED" ] || want transformers; then
  T=$HERE/transformers/train_hf.py
  cap transformers normal --tail 45 -- "$PY" "$T" normal
  for c in nan nan-nofilter climb oom; do
    cap transformers "$c" --tail 120 --mark "'loss': 'nan'" --mark "'grad_norm': 'nan'" -- "$PY" "$T" "$c"
  done
  for c in bad-weights bad-state bad-optimizer bad-rng empty-ckpt-dir no-ckpt; do
    cap transformers "$c" --tail 20 -- "$PY" "$T" "$c"
  done
fi

if [ -z "$SELECTED" ] || want sb3; then
  T=$HERE/sb3/train_sb3.py
  for c in normal normal-dqn nan nan-discrete oom bad-ckpt bad-ckpt-tail; do
    cap sb3 "$c" --tail 100 -- "$PY" "$T" "$c"
  done
fi

if [ -z "$SELECTED" ] || want xgboost; then
  T=$HERE/xgboost/train_xgb.py
  for c in normal ckpt-dir-missing normal-sklearn climb nan eta-range inf-label too-many-cols bad-ckpt bad-json empty-ckpt; do
    cap xgboost "$c" -- "$PY" "$T" "$c"
  done
  cap xgboost oom --as 2000000000 -- "$PY" "$T" oom
  cap xgboost bad-ckpt-segv -- "$PY" "$T" bad-ckpt-segv
  cap xgboost bad-ckpt-segv-faulthandler --env PYTHONFAULTHANDLER=1 -- "$PY" "$T" bad-ckpt-segv
  cap xgboost bad-ckpt-alloc --as 2000000000 -- "$PY" "$T" bad-ckpt-alloc
fi

if [ -z "$SELECTED" ] || want lightgbm; then
  T=$HERE/lightgbm/train_lgb.py
  for c in normal normal-sklearn climb nan inf-label bad-ckpt bad-ckpt-head empty-ckpt; do
    cap lightgbm "$c" -- "$PY" "$T" "$c"
  done
  cap lightgbm oom --as 3000000000 -- "$PY" "$T" oom
  cap lightgbm oom-segv --as 3000000000 -- "$PY" "$T" oom-segv
  cap lightgbm oom-segv-faulthandler --as 3000000000 --env PYTHONFAULTHANDLER=1 -- "$PY" "$T" oom-segv
fi

# runs.json: exit status and arrival times of every log (from the *.log.json sidecars)
"$PY" "$HERE/capture.py" --summary "$HERE"
