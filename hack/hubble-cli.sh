#!/usr/bin/env bash
# Builds the real `hubble` CLI that the Observer server tests run
# (hubble/server's CLI test), from the cilium module at the version go.mod
# requires, and caches it outside the repository keyed by that version.
# A no-op when it is cached.
#
#   hack/hubble-cli.sh            # build if missing, print the binary's path
#   hack/hubble-cli.sh --print    # only print the binary's path
#
# Environment:
#   AUDITOR_HUBBLE_VERSION  cilium module version (default: the one this
#                           repository's go.mod requires)
#   AUDITOR_KUBE_CACHE      cache root (default $HOME/.cache/flow-auditor)
#
# Layout: ${AUDITOR_KUBE_CACHE:-$HOME/.cache/flow-auditor}/hubble/<version>/hubble
#
# Why a wrapper module: github.com/cilium/cilium/hubble is a package of the
# cilium module, whose go.mod replaces sigs.k8s.io/controller-tools with
# cilium's fork. Replace lines only apply in the main module, so a plain
# `go install github.com/cilium/cilium/hubble@v` is refused; a throwaway
# module that requires cilium and repeats its replace lines builds it.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=${AUDITOR_HUBBLE_VERSION:-$(awk '$1 == "github.com/cilium/cilium" {print $2; exit}' "${repo}/go.mod")}
[[ -n ${version} ]] || { echo "hubble-cli: no cilium version in ${repo}/go.mod" >&2; exit 1; }
cache_root=${AUDITOR_KUBE_CACHE:-${HOME}/.cache/flow-auditor}
dir=${cache_root}/hubble/${version}
bin=${dir}/hubble

if [[ ${1:-} == --print ]]; then
	echo "${bin}"
	exit 0
fi

log() { echo "hubble-cli: $*" >&2; }

if [[ -x ${bin} ]]; then
	log "cached: ${bin}"
	echo "${bin}"
	exit 0
fi

mkdir -p "${dir}"
# Two concurrent runs (CI and a developer) must not build twice into the same dir.
exec 9>"${dir}/.lock"
flock 9
if [[ -x ${bin} ]]; then
	log "cached: ${bin}"
	echo "${bin}"
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hubble-cli.XXXXXX")
trap 'rm -rf "${work}"' EXIT

export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0

cilium_mod=$(go mod download -json "github.com/cilium/cilium@${version}" |
	sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[[ -f ${cilium_mod} ]] || { log "cannot download github.com/cilium/cilium@${version}"; exit 1; }

start=${SECONDS}
log "building hubble ${version} (cold: several minutes)"
(
	cd "${work}"
	go mod init hubblecli >/dev/null 2>&1
	{
		echo "require github.com/cilium/cilium ${version}"
		# Repeat cilium's replace lines, single-line and block form alike;
		# local-path replaces (=> ./...) cannot apply outside its tree.
		awk '
			/^replace[[:space:]]*\($/ { block = 1; next }
			block && /^\)/ { block = 0; next }
			block { print "replace " $0; next }
			/^replace[[:space:]]/ { print }
		' "${cilium_mod}" | grep -v '=>[[:space:]]*\.' || true
	} >>go.mod
	# The version string `hubble version` prints, as cilium's Makefile sets it.
	go build -trimpath \
		-ldflags "-s -w -X github.com/cilium/cilium/hubble/pkg.Version=${version}" \
		-o "${work}/hubble" github.com/cilium/cilium/hubble
)
mv "${work}/hubble" "${bin}"
log "built in $((SECONDS - start))s: ${bin}"
echo "${bin}"
