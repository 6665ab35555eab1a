#!/usr/bin/env bash
# The experiment of docs/training.md ("Erasing rather than redrawing"): fine-tune the shared
# MS-SSIM CPU model from the same start, on the same crops, with the same seed and steps as the
# orientation experiment (benchmarks/experiments/orientation_experiment.sh), with three objectives:
#
#   plain        λ·(1 − MS-SSIM) + bpp
#   orient-w4    λ·((1 − MS-SSIM) + 4·L_orient) + bpp
#   redraw-wW    λ·((1 − MS-SSIM) + W·L_redraw) + bpp     (--metric ms-ssim+redraw)
#   smse-wW      λ·((1 − MS-SSIM) + W·L_smse) + bpp       (--metric ms-ssim+stripe-mse)
#   redraw-wW-oO λ·((1 − MS-SSIM) + W·L_redraw + O·L_orient) + bpp (ms-ssim+redraw+orientation)
#
# λ is 8.73 unless the name ends in -l<λ> (redraw-w4-l7: the same loss at λ 7, to bring the
# rate back to plain's); redraw-wW-e<E> sets --erase-cost E (redraw-w4-e0.25-l7.8: both); a
# last -seed<N> trains on other crops and noise (plain-seed1: the spread between seeds); a
# -sc<F> before it places the share F of the crops on fine stripes (--striped-crops F).
#
# Training runs in stages of STAGE steps (--resume continues exactly, docs/training.md), and
# each stage's checkpoint is kept as OUT/<run>-s<step>.pth, so the probes at 100 steps and the
# longer runs come from the same runs.
#
#   benchmarks/experiments/objective_experiment.sh train RUN...    # e.g. train plain redraw-w4 (in parallel)
#   benchmarks/experiments/objective_experiment.sh compare [RUN...]   # compare runs at step STEPS, tables
#
# Run from the repository root with the venv active; OUT (default out/objective) holds
# everything, the checkpoints (*.pth) are not committed.
set -euo pipefail
OUT=${OUT:-out/objective}
SHARED=${SHARED:-../shared}
[ -d "$SHARED" ] || SHARED=/work/shared  # a worktree under /work/wt/ sits one level deeper
INIT=$SHARED/weights/bmshj2018-factorized-ms-ssim-cpu.pth
STEPS=${STEPS:-300}
STAGE=${STAGE:-100}
# The orientation experiment's recipe; a resumed stage repeats it (crop, batch and lr are the
# run's options, not the checkpoint's).
RECIPE=(--data "$SHARED/datasets/cbsd68" --crop 128 --batch 4 --lr 2e-4 --val-every 100
        --seed 0 --device cpu)
mkdir -p "$OUT"

loss_args() {  # the loss options of a run name; a -l<λ> suffix lowers λ from 8.73
  local lmbda=8.73
  case "$1" in *-seed*) echo "--seed ${1##*-seed}"; set -- "${1%-seed*}" ;; esac
  case "$1" in *-sc*) echo "--striped-crops ${1##*-sc}"; set -- "${1%-sc*}" ;; esac
  case "$1" in *-l*) lmbda=${1##*-l} ;; esac
  echo "--lmbda $lmbda"
  set -- "${1%-l*}"
  case "$1" in *-e*) echo "--erase-cost ${1##*-e}"; set -- "${1%-e*}" ;; esac
  case "$1" in
    plain) echo "--metric ms-ssim" ;;
    orient-w*) echo "--metric ms-ssim+orientation --orientation-weight ${1#orient-w}" ;;
    redraw-w*-o*) local w=${1#redraw-w}
      echo "--metric ms-ssim+redraw+orientation --stripe-weight ${w%-o*} --orientation-weight ${w##*-o}" ;;
    redraw-w*) echo "--metric ms-ssim+redraw --stripe-weight ${1#redraw-w}" ;;
    smse-w*) echo "--metric ms-ssim+stripe-mse --stripe-weight ${1#smse-w}" ;;
    *) echo "unknown run $1" >&2; return 2 ;;
  esac
}

train_one() {  # RUN: STAGE-step stages up to STEPS, each stage's checkpoint kept
  local run=$1 args step
  args=$(loss_args "$run")
  for ((step = STAGE; step <= STEPS; step += STAGE)); do
    [ -e "$OUT/$run-s$step.pth" ] && continue
    if [ -e "$OUT/$run.pth" ]; then
      # shellcheck disable=SC2086
      nice -n 19 codeccmp train bmshj2018-factorized --resume "$OUT/$run.pth" "${RECIPE[@]}" \
          $args --steps "$step" >>"$OUT/train-$run.log" 2>&1
    else
      # shellcheck disable=SC2086
      nice -n 19 codeccmp train bmshj2018-factorized --init "$INIT" "${RECIPE[@]}" $args --steps "$step" \
          --out "$OUT/$run.pth" >>"$OUT/train-$run.log" 2>&1
    fi
    cp "$OUT/$run.pth" "$OUT/$run-s$step.pth"
  done
}

case "${1:-}" in
train)
  shift
  export OMP_NUM_THREADS=1  # one torch thread per run: the runs share the cores
  for run in "$@"; do train_one "$run" & done
  wait ;;
compare)
  # Each checkpoint is the codec's only quality, so every image is coded at the one rate the
  # model gives it; the windows are benchmarks/experiments/objective_table.py's WINDOWS (kodim22 has
  # none: whole image only). "start" is the shared checkpoint itself.
  shift
  K=$SHARED/datasets/kodak
  # The checkpoints of step STEPS (OUT/<run>-s<STEPS>.pth); the JSON go to OUT/s<STEPS>/.
  [ $# -gt 0 ] || set -- start plain orient-w4 redraw-w4
  CMP=$OUT/s$STEPS
  mkdir -p "$CMP"
  for ckpt in "$@"; do
    path=$OUT/$ckpt-s$STEPS.pth
    [ "$ckpt" = start ] && path=$INIT
    for spec in "$SHARED/images/barbara.png --roi 480,432,96,96 --roi 480,256,96,96" \
                "$K/kodim08.png --roi 200,110,80,110" \
                "$K/kodim07.png --roi 192,272,88,88 --roi 192,112,88,88 --roi 320,328,88,88" \
                "$K/kodim22.png --roi none"; do
      name=$(basename "${spec%% *}" .png)
      # shellcheck disable=SC2086
      nice -n 19 codeccmp compare $spec --bpp 0.4 --codecs bmshj2018-factorized \
          --weights "bmshj2018-factorized=$path" --device cpu --offline --force \
          --json "$CMP/$ckpt-$name.json" --out "$CMP/$ckpt-$name" -q
    done
  done
  python benchmarks/experiments/objective_table.py "$CMP" ;;
*)
  echo "usage: $0 train RUN...|compare [CHECKPOINT...]" >&2; exit 2 ;;
esac
