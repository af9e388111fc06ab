#!/usr/bin/env bash
# Sets the machine up, then runs the service on its embedded default: the yolox-nano model (found in weights/ or
# ../shared/weights/) and one stream looping a sample video. Watch the detections from a second terminal:
#   dotnet run --project src/Detector.Cli -- watch
# Extra arguments go to the service, e.g. --Detector:Model:ExecutionProvider=Cpu.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

sample="${DETECTOR_SAMPLE_VIDEO:-$(pwd)/../shared/media/video/one-by-one-person-detection.mp4}"
stream=()
if [ -f "$sample" ]; then
  stream=(--Detector:Streams:0:Id=sample "--Detector:Streams:0:Url=$(cd "$(dirname "$sample")" && pwd)/$(basename "$sample")" --Detector:Streams:0:Loop=true)
else
  echo "run: no sample video at $sample (set DETECTOR_SAMPLE_VIDEO); starting with no stream" >&2
fi

# Fewer glibc malloc arenas: with one per decoder and inference thread, fragmentation grows the resident memory for
# minutes (docs/BENCHMARKS.md, soak). An operator's own value wins.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
exec dotnet run --project src/Detector.Server -c Release -- "${stream[@]}" "$@"
