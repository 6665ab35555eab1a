#!/usr/bin/env bash
# The experiment of docs/training.md ("Keeping the stripes' direction"): fine-tune the shared
# MS-SSIM CPU model three times from the same start, on the same crops, with the same λ, steps
# and seed: plain MS-SSIM, and MS-SSIM + orientation term at two weights. Then code the
# evaluation images with each checkpoint through `codeccmp compare`.
#
#   benchmarks/orientation_experiment.sh train     # the three fine-tunes, in parallel
#   benchmarks/orientation_experiment.sh compare   # compare runs, JSON + montages
#
# Run from the repository root with the venv active. OUT (default out/orient) holds
# everything; the checkpoints (*.pth) are not committed.
set -euo pipefail
OUT=${OUT:-out/orient}
SHARED=${SHARED:-../shared}
INIT=$SHARED/weights/bmshj2018-factorized-ms-ssim-cpu.pth
STEPS=${STEPS:-300}
WEIGHTS=${WEIGHTS:-"4 16"}
COMMON=(--init "$INIT" --data "$SHARED/datasets/cbsd68" --lmbda 8.73 --crop 128 --batch 4
        --lr 2e-4 --steps "$STEPS" --val-every 100 --seed 0 --device cpu)
mkdir -p "$OUT"

case "${1:-}" in
train)
  # One torch thread each: the runs share the cores instead of fighting over them.
  export OMP_NUM_THREADS=1
  codeccmp train bmshj2018-factorized "${COMMON[@]}" --metric ms-ssim \
      --out "$OUT/plain.pth" >"$OUT/train-plain.log" 2>&1 &
  for w in $WEIGHTS; do
    codeccmp train bmshj2018-factorized "${COMMON[@]}" --metric ms-ssim+orientation \
        --orientation-weight "$w" --out "$OUT/orient-w$w.pth" >"$OUT/train-orient-w$w.log" 2>&1 &
  done
  wait
  ;;
compare)
  echo "compare step: see below" ;;
*)
  echo "usage: $0 train|compare" >&2; exit 2 ;;
esac
