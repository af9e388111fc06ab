#!/usr/bin/env bash
# The performance issue's GPU measurements in one call, on the GPU machine, after ../shared/gpu/unpack.sh has put a
# self-contained publish of tests/Detector.LoadGenerator at $APP (with weights/ and media/ beside it; see
# docs/gpu/README.md for the publish and payload steps). Every report lands in $OUT. Not yet run on a GPU: written
# so that a session with a device spends its minutes measuring, and tried on the CPU with small settings:
#   EP=cpu APP=tests/Detector.LoadGenerator/bin/Release/net10.0 WEIGHTS=../shared/weights MEDIA=../shared/media \
#     STREAMS=2 RUN_SECONDS=2 WARMUP=1 BATCHES="1 2" IN_FLIGHT=2 OUT=/tmp/gpu-perf bash scripts/gpu-perf.sh
set -uo pipefail
APP=${APP:-/tmp/app}
OUT=${OUT:-/tmp/out}
EP=${EP:-cuda}
WEIGHTS=${WEIGHTS:-$APP/weights}
MEDIA=${MEDIA:-$APP/media}
MODEL=${MODEL:-$WEIGHTS/yolox-nano/yolox_nano.onnx}
VIDEO=${VIDEO:-$MEDIA/video/one-by-one-person-detection.mp4}   # 10 fps: 300 cameras offer 3,000 images/s
STREAMS=${STREAMS:-300}
BATCHES=${BATCHES:-1 8 32 64}
IN_FLIGHT=${IN_FLIGHT:-4}
SECONDS_PER_RUN=${RUN_SECONDS:-8}
WARMUP=${WARMUP:-6}
L=$APP/Detector.LoadGenerator
mkdir -p "$OUT"
step() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$OUT/steps.log"; }

# 1. Raw ONNX Runtime at each batch size, one run and several runs in flight (the ceilings).
step "raw, 1 run in flight"
"$L" --model "$MODEL" --raw-batches "${BATCHES// /,}" --ep "$EP" --seconds 3 --out "$OUT/raw-inflight1" > "$OUT/raw-inflight1.log" 2>&1
step "raw, $IN_FLIGHT runs in flight"
"$L" --model "$MODEL" --raw-batches "${BATCHES// /,}" --ep "$EP" --seconds 3 --in-flight "$IN_FLIGHT" --out "$OUT/raw-inflight$IN_FLIGHT" > "$OUT/raw-inflight$IN_FLIGHT.log" 2>&1

# 2. The service fed by live decoded cameras at each batch size, against the raw ceilings measured in the same run.
for b in $BATCHES; do
  step "service, $STREAMS live streams, batch $b, $IN_FLIGHT runs in flight"
  "$L" --model "$MODEL" --video "$VIDEO" --streams "$STREAMS" --batch "$b" --ep "$EP" --seconds "$SECONDS_PER_RUN" \
    --raw-seconds 3 --warmup "$WARMUP" --in-flight "$IN_FLIGHT" --out "$OUT/live-b$b" > "$OUT/live-b$b.log" 2>&1
done

step "done"
grep -h -E '^\| (uint8|float)|% of ceiling \(median\)|^\| [0-9]+ \| [0-9]+ \|' "$OUT"/*.log | tee "$OUT/summary.txt"
