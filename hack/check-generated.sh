#!/usr/bin/env bash
# check-generated.sh: regenerate the committed eBPF objects (bpf2go output)
# from their C sources in a temporary copy of the tree, at another path, and
# compare byte for byte. clang-19 (Debian's) produces identical objects for
# identical sources: bpf2go strips DWARF and maps the source directory out of
# the debug info, so the bytes do not depend on where the tree is.
#
# Needs: go, clang-19, llvm-strip-19 (Debian packages clang-19, llvm-19) and
# libbpf's headers (libbpf-dev). Exit status 1 names the stale files.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/tree/bpf"
cp "$root/go.mod" "$root/go.sum" "$tmp/tree/"
cp "$root"/bpf/*.c "$root"/bpf/*.h "$root/bpf/gen.go" "$tmp/tree/bpf/"
(cd "$tmp/tree/bpf" && go generate ./)

status=0
for f in "$tmp"/tree/bpf/*_bpfe[lb].o "$tmp"/tree/bpf/*_bpfe[lb].go; do
	rel=bpf/$(basename "$f")
	if [[ ! -f "$root/$rel" ]]; then
		echo "check-generated: $rel is missing: run make generate" >&2
		status=1
	elif ! cmp -s "$f" "$root/$rel"; then
		echo "check-generated: $rel does not match its sources: run make generate" >&2
		status=1
	fi
done
for f in "$root"/bpf/*_bpfe[lb].o "$root"/bpf/*_bpfe[lb].go; do
	if [[ ! -f "$tmp/tree/bpf/$(basename "$f")" ]]; then
		echo "check-generated: bpf/$(basename "$f") is no longer generated: remove it" >&2
		status=1
	fi
done
if [[ $status -eq 0 ]]; then
	echo "check-generated: bpf objects match their sources"
fi
exit $status
