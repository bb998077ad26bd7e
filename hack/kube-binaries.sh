#!/usr/bin/env bash
# Builds the kube-apiserver, kube-controller-manager and etcd that the API
# integration tests run (internal/kubetest), from the Go module proxy, and
# caches them outside the repository keyed by Kubernetes version. A no-op when
# all three are cached; otherwise only the missing ones are built.
#
#   hack/kube-binaries.sh            # build if missing, print the cache dir
#   hack/kube-binaries.sh --print    # only print the cache dir
#
# Environment:
#   AUDITOR_KUBE_VERSION  k8s.io/kubernetes version (default v1.36.3, the newest
#                         v1.36 release served; client-go is v0.36.4)
#   AUDITOR_ETCD_VERSION  etcd server version (default: the one that
#                         k8s.io/kubernetes's go.mod requires)
#   AUDITOR_KUBE_CACHE    cache root (default $HOME/.cache/flow-auditor/kube)
#
# Layout: $AUDITOR_KUBE_CACHE/<k8s-version>/{kube-apiserver,kube-controller-manager,etcd,VERSIONS}
set -euo pipefail

k8s_version=${AUDITOR_KUBE_VERSION:-v1.36.3}
cache_root=${AUDITOR_KUBE_CACHE:-${HOME}/.cache/flow-auditor/kube}
dir=${cache_root}/${k8s_version}

if [[ ${1:-} == --print ]]; then
	echo "${dir}"
	exit 0
fi

log() { echo "kube-binaries: $*" >&2; }

kube_components=(kube-apiserver kube-controller-manager)
all_cached() {
	local b
	for b in "${kube_components[@]}" etcd; do
		[[ -x ${dir}/${b} ]] || return 1
	done
}

if all_cached; then
	log "cached in ${dir}"
	echo "${dir}"
	exit 0
fi

mkdir -p "${dir}"
# Two concurrent runs (CI and a developer) must not build twice into the same dir.
exec 9>"${dir}/.lock"
flock 9
if all_cached; then
	log "cached in ${dir}"
	echo "${dir}"
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/kube-binaries.XXXXXX")
trap 'rm -rf "${work}"' EXIT

# The staging modules are published as k8s.io/X v0.<minor>.<patch>.
staging_version=v0.${k8s_version#v1.}

export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0

k8s_mod=$(go mod download -json "k8s.io/kubernetes@${k8s_version}" |
	sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[[ -f ${k8s_mod} ]] || { log "cannot download k8s.io/kubernetes@${k8s_version}"; exit 1; }

etcd_version=${AUDITOR_ETCD_VERSION:-$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2; exit}' "${k8s_mod}")}
[[ -n ${etcd_version} ]] || { log "no etcd server version in ${k8s_mod}"; exit 1; }

# One module that requires k8s.io/kubernetes, shared by the kube-* builds.
kube_module() {
	[[ -f ${work}/kube/go.mod ]] && return 0
	mkdir -p "${work}/kube"
	(
		cd "${work}/kube"
		go mod init kubebinaries/kube >/dev/null 2>&1
		{
			echo "require k8s.io/kubernetes ${k8s_version}"
			echo "replace ("
			# Every staging module k8s.io/kubernetes replaces with ./staging/src/...
			sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/.*#\1#p' "${k8s_mod}" |
				while read -r m; do echo "	${m} => ${m} ${staging_version}"; done
			echo ")"
		} >>go.mod
		go mod download k8s.io/kubernetes
	)
}

for component in "${kube_components[@]}"; do
	[[ -x ${dir}/${component} ]] && continue
	start=${SECONDS}
	log "building ${component} ${k8s_version} (cold: several minutes)"
	kube_module
	(
		cd "${work}/kube"
		# Stamp the version as the release build does: /version reports it.
		v=k8s.io/component-base/version
		minor=${k8s_version#v1.}
		minor=${minor%%.*}
		go build -trimpath -o "${work}/${component}" \
			-ldflags="-s -w -X ${v}.gitVersion=${k8s_version} -X ${v}.gitMajor=1 -X ${v}.gitMinor=${minor} -X ${v}.gitTreeState=clean" \
			"k8s.io/kubernetes/cmd/${component}"
	)
	mv "${work}/${component}" "${dir}/${component}"
	log "${component} built in $((SECONDS - start))s"
done

start=${SECONDS}
if [[ ! -x ${dir}/etcd ]]; then
	log "building etcd ${etcd_version}"
	mkdir -p "${work}/etcd"
	(
		cd "${work}/etcd"
		go mod init kubebinaries/etcd >/dev/null 2>&1
		cat >main.go <<'GO'
// Command etcd is etcd's server entry point, built for the integration tests.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
		go get "go.etcd.io/etcd/server/v3@${etcd_version}" >/dev/null
		go build -trimpath -ldflags="-s -w" -o "${work}/etcd-bin" .
	)
	mv "${work}/etcd-bin" "${dir}/etcd"
	log "etcd built in $((SECONDS - start))s"
fi

printf 'kubernetes %s\netcd %s\n' "${k8s_version}" "${etcd_version}" >"${dir}/VERSIONS"
log "ready in ${dir}"
echo "${dir}"
