# syntax=docker/dockerfile:1
#
# flowsteer's image: the flowsteer binary (static: CGO_ENABLED=0, SQLite is
# modernc.org/sqlite, pure Go) on Debian 13 slim, with python3 for the code
# sandbox (generated Python and code-task tests run there) and bubblewrap
# for its isolation. It runs as uid/gid 10001, from /var/lib/flowsteer
# (where `train` puts runs/ by default); every command of the binary works,
# e.g.
#
#   docker build -t flowsteer:dev .
#   docker build --build-arg VERSION=0.1.0 -t REGISTRY/flowsteer:0.1.0 .
#   docker run --rm -p 127.0.0.1:50051:50051 flowsteer:dev serve --addr :50051 --insecure
#
# The sandbox picks its isolation at start-up and logs it: under a
# runtime's default seccomp profile it cannot make namespaces and runs
# generated code with resource limits only (deploy/kubernetes/README.md,
# "The code sandbox"). Base images are pinned by tag; pin them by digest
# in your registry mirror (docker buildx imagetools inspect IMAGE:TAG).

# ---- build -------------------------------------------------------------------
FROM golang:1.26.8-trixie AS build

WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/flowsteer ./cmd/flowsteer

# ---- runtime -----------------------------------------------------------------
FROM debian:13.8-slim

ARG VERSION=dev
LABEL org.opencontainers.image.title="flowsteer" \
      org.opencontainers.image.description="Learns to build agentic workflows with reinforcement learning (canvas, policy and trainer gRPC services)" \
      org.opencontainers.image.version="${VERSION}"

# python3: the sandbox's interpreter (the whole standard library: generated
# code imports it). bubblewrap: the sandbox's first isolation mode, used
# where the container may make user namespaces and mount a fresh /proc.
# ca-certificates: HTTPS executor endpoints. Versions: Debian 13 (trixie)
# as of 13.8; bump them with the base image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3=3.13.5-1 \
        bubblewrap=0.12.0-1~deb13u1 \
        ca-certificates=20250419+deb13u1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 flowsteer \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/flowsteer \
        --no-create-home --shell /usr/sbin/nologin flowsteer \
    && mkdir -p /var/lib/flowsteer \
    && chown 10001:10001 /var/lib/flowsteer

COPY --from=build /out/flowsteer /usr/local/bin/flowsteer

# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
WORKDIR /var/lib/flowsteer
# gRPC (serve --addr) and Prometheus metrics (--metrics-addr).
EXPOSE 50051 9464
ENTRYPOINT ["/usr/local/bin/flowsteer"]
CMD ["--help"]
