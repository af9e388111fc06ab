#!/usr/bin/env bash
# Builds what carries the load generator to the GPU machine for scripts/gpu-perf.sh (docs/gpu/README.md, "How it was
# run"): a self-contained publish of tests/Detector.LoadGenerator without the TensorRT provider (not used; the
# machine has no TensorRT for it to load), yolox-nano, the 10 fps sample video, and OpenCvSharp's native
# dependencies (the machine has no GTK), packed by the GPU kit's make_payload.sh into 60 MiB parts: the
# working tree is under 2 MiB, so one call carries the tree and one part. The parts are parked in $PARKED; .gpu/
# (emptied first: whatever it holds travels with every call) keeps the checksums and the kit's two scripts.
# Took 3 min 45 s on 2 cores (2026-11-26), most of it xz; 3 parts.
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=${KIT:-../shared/gpu}
SHARED=${DETECTOR_SHARED_DIR:-../shared}
PUB=${PUB:-/tmp/gpu-pub}
DATA=${DATA:-/tmp/gpu-data}
PARKED=${PARKED:-/tmp/gpu-parked}
[ -f "$KIT/make_payload.sh" ] || { echo "gpu-payload: no GPU kit at $KIT (set KIT)" >&2; exit 1; }

# .gpu/ must stay out of git's view, or every part travels with every call (the kit's README, step 1).
grep -qxF /.gpu/ .git/info/exclude 2>/dev/null || echo /.gpu/ >> .git/info/exclude

rm -rf "$PUB" "$DATA" .gpu
dotnet publish tests/Detector.LoadGenerator -c Release -r linux-x64 --self-contained -p:InvariantGlobalization=true \
  --nologo -v quiet -o "$PUB"
rm -f "$PUB/libonnxruntime_providers_tensorrt.so"

mkdir -p "$DATA/yolox-nano" "$DATA/video" "$DATA/nativedeps"
cp "$SHARED/weights/yolox-nano/yolox_nano.onnx" "$DATA/yolox-nano/"
cp "$SHARED/media/video/one-by-one-person-detection.mp4" "$DATA/video/"
# Every library OpenCvSharp's native part loads, but for the C and C++ runtimes, which the machine has.
ldd "$PUB/libOpenCvSharpExtern.so" | awk '/=> \//{print $3}' \
  | grep -vE '/(libc|libm|libpthread|libdl|librt|ld-linux-x86-64|libstdc\+\+|libgcc_s)\.so' \
  | xargs cp -L -t "$DATA/nativedeps/"
echo "gpu-payload: $(ls "$DATA/nativedeps" | wc -l) native dependencies, $(du -sh "$DATA/nativedeps" | cut -f1)"

# 60M is over the kit's 38M default (it warns): that default leaves room for a large working tree, and ours is small.
bash "$KIT/make_payload.sh" -s 60M "$PUB" "$DATA/yolox-nano" "$DATA/video" "$DATA/nativedeps"
rm -rf "$PARKED" && mkdir -p "$PARKED" && mv .gpu/part-* "$PARKED/"
parts=$(ls "$PARKED" | wc -l)
cat <<EOF
gpu-payload: $parts part(s) parked in $PARKED. The device calls, back to back, each with carry [".gpu"]:
  for each part but the last, here:  rm -f .gpu/part-* && cp $PARKED/part-NN .gpu/
                              there: bash .gpu/copy_part.sh
  the last part, here:               rm -f .gpu/part-* && cp $PARKED/part-$(printf %02d $((parts - 1))) .gpu/
                              there: bash .gpu/unpack.sh /tmp/app && eval "\$(bash .gpu/unpack.sh --env)" && APP=/tmp/app bash scripts/gpu-perf.sh
EOF
