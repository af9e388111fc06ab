#!/usr/bin/env bash
# The performance issue's GPU measurements in one call on the GPU machine: the service fed by live decoded cameras on
# CUDA, each run beside raw ONNX Runtime at the same batch and runs in flight, measured in the same run. Run it after
# ../shared/gpu/unpack.sh has put a self-contained publish of tests/Detector.LoadGenerator at $APP, with
# yolox-nano/, video/ and nativedeps/ (OpenCvSharp's native dependencies) beside it; docs/gpu/README.md gives the
# publish and payload steps. Every report lands in $RES; $OUT (the device tool's folder) gets them as results.tgz
# after each run, so a run cut short still returns what it finished. Used on an H200 on 2026-11-26 (docs/gpu/after-fix,
# docs/gpu/page-locked), and with EP=cpu on its 16 cores (docs/service-cpu/16-cores; RAW_SECONDS=4 JIT_QUIET=2 WARMUP=5).
# On the CPU with small settings:
#   EP=cpu APP=tests/Detector.LoadGenerator/bin/Release/net10.0 MODEL=../shared/weights/yolox-nano/yolox_nano.onnx \
#     VIDEO=../shared/media/video/one-by-one-person-detection.mp4 RUNS="b2-f1 2 2 1" OUT=/tmp/gpu-perf bash scripts/gpu-perf.sh
set -uo pipefail
APP=${APP:-/tmp/app}
OUT=${OUT:-/tmp/out}
RES=${RES:-/tmp/res}
EP=${EP:-cuda}
MODEL=${MODEL:-$APP/yolox-nano/yolox_nano.onnx}
VIDEO=${VIDEO:-$APP/video/one-by-one-person-detection.mp4}   # 10 fps: 300 cameras offer 3,000 images/s
# name, cameras, maximum batch, runs in flight, then any further load-generator flags; in order of importance, since
# the call may be cut short. A batch list (e.g. "sweep 300 1,8,32,64 2") makes one run of all of them, each beside raw
# at its own size, charted against batch. "raw" for cameras measures ONNX Runtime alone at those batch sizes: the
# service's graph with pageable and page-locked buffers, and through IOBinding with ONNX Runtime's pinned buffers.
# The default is the list of 2026-11-26 22:01 UTC (docs/gpu/page-locked): that probe; the latency settings with
# page-locked buffers (the service's default) and without (--page-locked false), alternated; batch 48 and 64; the
# one-run batch chart. The repeats, batch 8 and 330 cameras came in two more calls on the same machine.
RUNS=${RUNS:-"raw-probe raw 8,32,64 1;b32-f2-locked 300 32 2;b32-f2 300 32 2 --page-locked false;b32-f3-locked 300 32 3;b32-f3 300 32 3 --page-locked false;b48-f2-locked 300 48 2;b64-f4-locked 300 64 4;sweep-f2-locked 300 1,8,32,64 2"}
SECONDS_PER_RUN=${RUN_SECONDS:-8}
RAW_SECONDS=${RAW_SECONDS:-2}
WARMUP=${WARMUP:-6}
# Waiting for the JIT to go quiet can take half a minute or more (up to 60 s), which device time cannot spare, and
# the earlier GPU runs used the fixed warm-up alone: kept so, unless JIT_QUIET says otherwise.
JIT_QUIET=${JIT_QUIET:-0}
L=$APP/Detector.LoadGenerator
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:$APP/nativedeps" MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}
mkdir -p "$OUT" "$RES"
pack() { tar czf "$OUT/results.tgz" -C "$RES" . 2>/dev/null; }
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null; nproc; } | tee "$RES/machine.txt"

IFS=';' read -ra runs <<< "$RUNS"
for run in "${runs[@]}"; do
  read -r name streams batch inflight extra <<< "$run"
  if [ "$streams" = raw ]; then
    echo "== $(date -u +%T) $name: raw ONNX Runtime at batch $batch"
    timeout 240 "$L" --model "$MODEL" --raw-batches "$batch" --ep "$EP" --seconds 2 --in-flight "$inflight" ${extra:-} \
      --out "$RES/$name" > "$RES/$name.log" 2>&1
    echo "rc=$?"
    grep -E "^\| " "$RES/$name.log" | cut -c1-300
    pack
    continue
  fi
  echo "== $(date -u +%T) $name: $streams live cameras, batch $batch, $inflight in flight ${extra:-}"
  # One service run per stream count and batch size, each with its raw runs either side.
  sizes=$(( ($(tr -cd , <<< "$batch" | wc -c) + 1) * ($(tr -cd , <<< "$streams" | wc -c) + 1) ))
  per_size=$(( WARMUP + SECONDS_PER_RUN + 2 * RAW_SECONDS + 50 + (JIT_QUIET > 0 ? 60 : 0) ))
  timeout $(( per_size * sizes + 20 )) "$L" --model "$MODEL" --video "$VIDEO" --streams "$streams" --batch "$batch" --ep "$EP" --seconds "$SECONDS_PER_RUN" \
    --warmup "$WARMUP" --jit-quiet "$JIT_QUIET" --raw-seconds "$RAW_SECONDS" --in-flight "$inflight" ${extra:-} --out "$RES/$name" > "$RES/$name.log" 2>&1
  echo "rc=$?"
  grep -E "^\| [0-9]|CPU by thread|ceiling over|^raw ONNX" "$RES/$name.log" | cut -c1-400
  pack
done
echo "== $(date -u +%T) done"
