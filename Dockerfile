# syntax=docker/dockerfile:1
# The flow-auditor image: the static auditor binary on scratch.
#
#   docker build --build-arg VERSION=v0.1.0 --build-arg REVISION=$(git rev-parse HEAD) -t flow-auditor/flow-auditor:v0.1.0 .

# Build: the Go release go.mod names (deploy's tests check they agree).
FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# The same script CI runs: CGO_ENABLED=0 go build -trimpath ... ./cmd/auditor
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    VERSION=${VERSION} hack/build-static.sh /out/auditor

# Run: only the binary and the CA certificates (for the API server and
# Hubble TLS). No shell, no package manager, nothing to exec into.
FROM scratch AS run
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="flow-auditor" \
      org.opencontainers.image.description="eBPF flow auditor for Kubernetes: observes pod flows, judges them against NetworkPolicies, suggests least-privilege policies" \
      org.opencontainers.image.source="https://github.com/flow-auditor/flow-auditor" \
      org.opencontainers.image.url="https://github.com/flow-auditor/flow-auditor" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/auditor /usr/bin/auditor
# uid 0: Kubernetes grants capabilities to root only. The chart drops every
# capability but BPF, PERFMON and NET_ADMIN, and makes the root file system
# read-only; the hubble source runs as 65534 with none.
USER 0:0
ENTRYPOINT ["/usr/bin/auditor"]
CMD ["agent"]
