# syntax=docker/dockerfile:1
# One image for every fbchannel program; docker-compose.yml picks the command:
#   worker (Temporal worker), starter (HTTP: webhooks, admin and agent API), graphsim
#   (Graph API simulator, for staging without Facebook).
# Build context: the repository root. Keep bin/ and .data/ out of it (.dockerignore).

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	go build -buildvcs=false -ldflags='-s -w' -o /out/ ./worker ./starter ./cmd/graphsim

# debian-slim rather than distroless: CA certificates for graph.facebook.com, and curl for
# the compose healthchecks.
FROM debian:bookworm-slim
RUN apt-get update \
	&& apt-get install -y --no-install-recommends ca-certificates curl tzdata \
	&& rm -rf /var/lib/apt/lists/* \
	&& useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin fbchannel
COPY --from=build /out/ /usr/local/bin/
USER 10001:10001
ENV HTTP_ADDR=:8080 SIM_ADDR=:8090
EXPOSE 8080 8090
# Both mains stop gracefully on SIGTERM (docker stop's signal).
CMD ["starter"]
