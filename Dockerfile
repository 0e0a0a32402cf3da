# syntax=docker/dockerfile:1
#
# sheetsync in a container: a static binary on distroless, running as a non-root user.
#
#   docker build -t sheetsync --build-arg VERSION=v1.2.3 .
#   docker run -d --name sheetsync -p 8080:8080 \
#     -v "$PWD/sheets:/data" -v sheetsync-state:/state \
#     -e SHEETSYNC_REPLICA=sheetsync-1 \
#     -e SHEETSYNC_SECRET_KEY=... \
#     sheetsync
#
# It listens on 0.0.0.0:8080 inside the container, which is not a loopback address: sheetsync
# refuses to start there without a key (SHEETSYNC_JWT_PUBLIC_KEY with SHEETSYNC_APP_ID for v3,
# SHEETSYNC_SECRET_KEY for legacy) unless SHEETSYNC_ALLOW_UNAUTHENTICATED=true says something in
# front of it checks callers. See README.md, "Run it as a service".
#
# The process runs as uid/gid 65532 (distroless "nonroot"): a folder bind-mounted on /data must
# be writable by it (chown 65532:65532, or docker run --user with the folder's owner), unless
# SHEETSYNC_READ_ONLY=true. Named volumes get the right owner from the image.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# VERSION sets main.version (cmd/sheetsync/version.go); empty leaves the module's version, or
# "devel", since .git is not in the build context.
ARG VERSION=
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w${VERSION:+ -X main.version=$VERSION}" -o /out/sheetsync ./cmd/sheetsync \
 && mkdir -p /out/data /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sheetsync /usr/local/bin/sheetsync
# owned by the nonroot user, so that fresh named volumes on them are writable
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build --chown=65532:65532 /out/state /state
USER 65532:65532
ENV SHEETSYNC_DIR=/data \
    SHEETSYNC_STATE_DIR=/state \
    SHEETSYNC_ADDR=0.0.0.0:8080
VOLUME ["/data", "/state"]
EXPOSE 8080
# No HEALTHCHECK: distroless has no shell, curl or wget to run one, and sheetsync has no health
# subcommand. Probe GET /healthz (alive) and GET /readyz (loaded and caught up) from outside:
# the orchestrator's HTTP probe, or the load balancer's health check.
ENTRYPOINT ["/usr/local/bin/sheetsync", "serve"]
