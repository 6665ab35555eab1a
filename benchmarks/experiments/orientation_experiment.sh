#!/usr/bin/env bash
# The experiment of docs/training.md ("Keeping the stripes' direction"): fine-tune the shared
# MS-SSIM CPU model from the same start, on the same crops, for the same steps, with the same
# seed: plain MS-SSIM (λ 8.73), MS-SSIM + orientation term at each weight of WEIGHTS (λ 8.73),
# and with the term at a lower λ to bring the rate back (RATE_MATCHED, WEIGHT:λ). Then code
# the evaluation images with each checkpoint through `codeccmp compare`.
#
#   benchmarks/experiments/orientation_experiment.sh train     # the fine-tunes, in parallel
#   benchmarks/experiments/orientation_experiment.sh compare   # compare runs, JSON, table, montages
#
# The weight probe of the docs (100 steps, w = 4 and 16, Barbara only):
#   OUT=out/s100 STEPS=100 WEIGHTS="4 16" RATE_MATCHED= $0 train
#   OUT=out/s100 WEIGHTS="4 16" RATE_MATCHED= CKPTS="start plain orient-w4 orient-w16" \
#       IMAGES=../shared/images/barbara.png $0 compare
#
# Run from the repository root with the venv active. OUT (default out/orient) holds
# everything; the checkpoints (*.pth) are not committed.
set -euo pipefail
OUT=${OUT:-out/orient}
SHARED=${SHARED:-../shared}
INIT=$SHARED/weights/bmshj2018-factorized-ms-ssim-cpu.pth
STEPS=${STEPS:-300}
WEIGHTS=${WEIGHTS-4}
# Runs with the term and a lower λ, to bring the rate back to the plain run's: WEIGHT:LAMBDA.
RATE_MATCHED=${RATE_MATCHED-"4:7.8 4:5.5 4:4"}
COMMON=(--init "$INIT" --data "$SHARED/datasets/cbsd68" --crop 128 --batch 4
        --lr 2e-4 --steps "$STEPS" --val-every 100 --seed 0 --device cpu)
mkdir -p "$OUT"

train_rate_matched() {
  for wl in $RATE_MATCHED; do
    w=${wl%%:*} l=${wl##*:}
    codeccmp train bmshj2018-factorized "${COMMON[@]}" --lmbda "$l" \
        --metric ms-ssim+orientation --orientation-weight "$w" \
        --out "$OUT/orient-w$w-l$l.pth" >"$OUT/train-orient-w$w-l$l.log" 2>&1 &
  done
  wait
}

case "${1:-}" in
train)
  # One torch thread each: the runs share the cores instead of fighting over them.
  export OMP_NUM_THREADS=1
  codeccmp train bmshj2018-factorized "${COMMON[@]}" --lmbda 8.73 --metric ms-ssim \
      --out "$OUT/plain.pth" >"$OUT/train-plain.log" 2>&1 &
  for w in $WEIGHTS; do
    codeccmp train bmshj2018-factorized "${COMMON[@]}" --lmbda 8.73 \
        --metric ms-ssim+orientation --orientation-weight "$w" \
        --out "$OUT/orient-w$w.pth" >"$OUT/train-orient-w$w.log" 2>&1 &
  done
  train_rate_matched
  wait
  ;;
train-rate-matched)
  export OMP_NUM_THREADS=1
  train_rate_matched
  wait
  ;;
compare)
  # Each checkpoint is the codec's only quality, so every image is coded at the one rate the
  # model gives it (--bpp only names a target; the JSON records the bpp achieved). "start" is
  # the shared checkpoint itself, before either fine-tune.
  read -r -a IMAGES <<<"${IMAGES:-$SHARED/images/barbara.png $SHARED/images/house.png \
      $SHARED/datasets/kodak/kodim07.png $SHARED/datasets/kodak/kodim08.png}"
  for ckpt in ${CKPTS:-start plain $(for w in $WEIGHTS; do echo orient-w$w; done) \
               $(for wl in $RATE_MATCHED; do echo "orient-w${wl%%:*}-l${wl##*:}"; done)}; do
    path=$OUT/$ckpt.pth
    [ "$ckpt" = start ] && path=$INIT
    for img in "${IMAGES[@]}"; do
      name=$(basename "$img" .png)
      codeccmp compare "$img" --bpp 0.4 --codecs bmshj2018-factorized \
          --weights "bmshj2018-factorized=$path" --device cpu --offline --force \
          --json "$OUT/$ckpt-$name.json" --out "$OUT/$ckpt-$name" -q
    done
  done
  # The table of docs/training.md and one montage per image with every checkpoint side by side.
  python benchmarks/experiments/orientation_table.py "$OUT" ;;
*)
  echo "usage: $0 train|compare" >&2; exit 2 ;;
esac
