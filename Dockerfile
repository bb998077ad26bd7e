# syntax=docker/dockerfile:1
# Build: the static auditor binary with the project's own go.mod.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/flow-auditor/flow-auditor/internal/buildinfo.version=${VERSION}" \
      -o /out/auditor ./cmd/auditor

# Run: scratch holds only the binary and CA certificates (for the API server
# and Hubble TLS): no shell, no package manager. The agent runs as uid 0 for
# BPF; the chart drops every capability but the few it needs.
FROM scratch AS run
ARG VERSION=dev
LABEL org.opencontainers.image.title="flow-auditor" \
      org.opencontainers.image.description="eBPF flow auditor for Kubernetes NetworkPolicies" \
      org.opencontainers.image.source="https://github.com/flow-auditor/flow-auditor" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/auditor /usr/bin/auditor
USER 0:0
ENTRYPOINT ["/usr/bin/auditor"]
