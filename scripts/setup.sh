#!/usr/bin/env bash
# One-time set-up on a fresh Debian/Ubuntu machine: the native libraries OpenCvSharp needs, ffmpeg for network
# streams, then a NuGet restore. Safe to run again; installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Runtime: libgtk-3-0 (OpenCvSharp's native library links GTK), ffmpeg (network streams).
# Tests only (--with-test-deps): a GStreamer RTSP server and what it needs, listed in scripts/test-deps.txt.
packages=(libgtk-3-0 ffmpeg)
if [ "${1:-}" = "--with-test-deps" ]; then
  mapfile -t test_packages < <(grep -v '^\s*#' scripts/test-deps.txt | grep -v '^\s*$')
  packages+=("${test_packages[@]}")
fi
need=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

command -v dotnet >/dev/null 2>&1 || { echo "setup: the .NET 10 SDK is required (https://dot.net)"; exit 1; }
dotnet restore Detector.sln --nologo -v quiet
echo "setup: done"
