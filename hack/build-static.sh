#!/usr/bin/env bash
# Builds the static auditor binary: the one command the container image's
# build stage runs (Dockerfile: RUN hack/build-static.sh /out/auditor), so
# that CI (deploy's TestDockerfileBuildsTheBinary) and the image build the
# same way.
#
#   hack/build-static.sh OUTPUT      # e.g. hack/build-static.sh bin/auditor
#
# Environment: VERSION (default dev) and COMMIT (default: git's HEAD where
# there is a checkout) are what `auditor version` reports.
set -euo pipefail

out=${1:?usage: hack/build-static.sh OUTPUT}
case ${out} in
/*) ;;
*) out=${PWD}/${out} ;;
esac
cd "$(dirname "$0")/.."

commit=${COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || true)}

# No cgo: the binary runs on scratch, with no libc.
CGO_ENABLED=0 exec go build -trimpath \
	-ldflags "-s -w -X github.com/flow-auditor/flow-auditor/internal/buildinfo.version=${VERSION:-dev} -X github.com/flow-auditor/flow-auditor/internal/buildinfo.commit=${commit}" \
	-o "${out}" ./cmd/auditor
