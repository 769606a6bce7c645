# syntax=docker/dockerfile:1
#
# The Riskwatch image: riskd (the entrypoint) and riskctl, static binaries
# on distroless, running as uid 65532. See docs/deploy.md.
#
#   docker build -t riskwatch:dev .
#   docker run --rm -p 127.0.0.1:7070:7070 -p 127.0.0.1:4222:4222 \
#     -e RISKWATCH_HTTP_TOKEN=$(openssl rand -hex 32) \
#     -e RISKWATCH_NATS_TOKEN=$(openssl rand -hex 32) \
#     -v riskwatch-data:/var/lib/riskwatch riskwatch:dev
#   docker run --rm --entrypoint /usr/local/bin/riskctl riskwatch:dev --help
#
# No HEALTHCHECK: distroless has no shell, curl or wget to run one, and
# riskd has no probe subcommand. Let the orchestrator probe GET /readyz
# (ready to serve: restored and caught up) and GET /healthz (alive); both
# answer without the HTTP token. deploy/k8s does; see docs/deploy.md.

ARG GO_VERSION=1.26.8
ARG BASE_IMAGE=gcr.io/distroless/static-debian13:nonroot

# The builder runs on the build machine's platform and cross-compiles
# (CGO_ENABLED=0 needs no C toolchain), so a multi-platform build
# (docker buildx build --platform linux/amd64,linux/arm64) needs no emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src

# Modules first, in their own layer and cache: they change far less often
# than the code.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=bind,source=go.mod,target=go.mod \
    --mount=type=bind,source=go.sum,target=go.sum \
    go mod download

# Version stamping. internal/buildinfo reads what the Go toolchain records
# in the binary (debug.ReadBuildInfo): the VCS revision, commit time and
# "modified" flag, and the module version Go derives from the git tag. It
# has no -ldflags -X variable to set, so the stamp comes from the checkout's
# .git directory, which .dockerignore therefore keeps in the context.
# -buildvcs=auto stamps when .git is a directory and git works, and builds
# unstamped (riskd --version then says 0.2.0-dev) from a tarball or a git
# worktree (whose .git is a file pointing outside the context). Pass
# --build-arg BUILDVCS=false to never stamp, or true to fail without a stamp.
ARG BUILDVCS=auto
ARG TARGETOS
ARG TARGETARCH
# safe.directory: the bind mount belongs to the build machine's user, not
# root, and git refuses to read a repository it does not own otherwise.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=bind,target=. \
    git config --global --add safe.directory /src && \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -buildvcs=$BUILDVCS -trimpath -ldflags="-s -w" -o /out/bin/ ./cmd/riskd ./cmd/riskctl && \
    mkdir -p /out/data

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="riskwatch" \
      org.opencontainers.image.description="Riskwatch churn-risk engine: riskd and riskctl" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/riskwatch/riskwatch"
COPY --from=build /out/bin/riskd /out/bin/riskctl /usr/local/bin/
# The embedded NATS store. A named volume mounted here starts with this
# directory's owner, so uid 65532 can write to it.
COPY --from=build --chown=65532:65532 /out/data /var/lib/riskwatch
USER 65532:65532
WORKDIR /var/lib/riskwatch
# 7070: HTTP API, /metrics, /healthz, /readyz. 4222: the embedded NATS
# (unused with --nats-url).
EXPOSE 7070 4222
ENTRYPOINT ["/usr/local/bin/riskd"]
# One riskd with its embedded NATS, reachable from outside the container.
# Beyond loopback riskd requires TLS and credentials (docs/security.md):
# mount a certificate and key at /etc/riskwatch/tls/tls.crt and tls.key,
# give RISKWATCH_HTTP_TOKEN, and NATS clients use the role passwords riskd
# writes to /var/lib/riskwatch/auth on its first start. To try it on your
# machine without certificates:
#   docker run -p 127.0.0.1:7070:7070 <image> --demo --insecure --http-listen 0.0.0.0:7070
# To join a NATS cluster, replace the whole command: see deploy/compose.yaml.
CMD ["--data-dir", "/var/lib/riskwatch", "--nats-listen", "0.0.0.0:4222", \
     "--nats-tls-cert", "/etc/riskwatch/tls/tls.crt", "--nats-tls-key", "/etc/riskwatch/tls/tls.key", \
     "--http-listen", "0.0.0.0:7070", \
     "--http-tls-cert", "/etc/riskwatch/tls/tls.crt", "--http-tls-key", "/etc/riskwatch/tls/tls.key", \
     "--log-format", "json"]
