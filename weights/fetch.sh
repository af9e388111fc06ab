#!/usr/bin/env bash
# Downloads a model listed in weights/manifest.json and checks its SHA-256 before keeping it.
#   weights/fetch.sh --list            the models the manifest knows
#   weights/fetch.sh NAME [DIR]        download NAME into DIR (default: weights/NAME/)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
manifest="$here/manifest.json"

# Prints "name file sha256 url" per model; the manifest keeps one key per line, so awk is enough.
entries() {
  awk -F'"' '
    /"name":/   { name=$4 }
    /"file":/   { file=$4 }
    /"sha256":/ { sha=$4 }
    /"url":/    { print name, file, sha, $4 }
  ' "$manifest"
}

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'
  exit 1
fi

if [ "$1" = "--list" ]; then
  entries | awk '{ printf "%-16s %s\n", $1, $4 }'
  exit 0
fi

line=$(entries | awk -v n="$1" '$1 == n')
if [ -z "$line" ]; then
  echo "fetch: no model named '$1' in $manifest; known: $(entries | awk '{print $1}' | paste -sd' ')" >&2
  exit 2
fi
read -r name file sha url <<<"$line"
dest="${2:-$here/$name}"
mkdir -p "$dest"
tmp="$(mktemp "$dest/.$file.XXXXXX")"
trap 'rm -f "$tmp"' EXIT

echo "fetch: $name <- $url"
if command -v curl >/dev/null; then curl -fL --retry 3 -o "$tmp" "$url"
else wget -q -O "$tmp" "$url"; fi

actual=$(sha256sum "$tmp" | awk '{print $1}')
if [ "$actual" != "$sha" ]; then
  echo "fetch: checksum mismatch for $name: expected $sha, got $actual; file discarded" >&2
  exit 3
fi
mv "$tmp" "$dest/$file"
trap - EXIT
echo "fetch: $dest/$file (sha256 ok)"
