# brokerbench: one image for every role (ingress, subscriber, bench tools).
#   docker build -t brokerbench:local .
#   docker run --rm brokerbench:local ingress --help
# Used by compose/*.yml (build context: the repo root).

FROM rust:1.95.0-bookworm AS builder
# librdkafka-dev and pkg-config: the Kafka client links Debian's librdkafka dynamically.
RUN apt-get update \
 && apt-get install -y --no-install-recommends protobuf-compiler librdkafka-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Manifests first, so the dependency download is cached while only sources change.
COPY Cargo.toml Cargo.lock ./
COPY common/Cargo.toml common/Cargo.toml
COPY publishers/Cargo.toml publishers/Cargo.toml
COPY subscribers/Cargo.toml subscribers/Cargo.toml
COPY bench/Cargo.toml bench/Cargo.toml
RUN mkdir -p common/src publishers/src subscribers/src bench/src \
 && touch common/src/lib.rs publishers/src/lib.rs subscribers/src/lib.rs bench/src/lib.rs \
 && echo 'fn main() {}' > bench/src/main.rs \
 && cargo fetch --locked
COPY proto proto
COPY common common
COPY publishers publishers
COPY subscribers subscribers
COPY bench bench
RUN cargo build --release --locked -p brokerbench \
 && install -m 0755 target/release/brokerbench /usr/local/bin/brokerbench

FROM debian:12.12-slim
# ca-certificates for TLS to real brokers / Google Cloud; curl for the compose healthchecks;
# librdkafka1, the Kafka client library the binary links (the builder's librdkafka-dev).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl librdkafka1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home brokerbench
COPY --from=builder /usr/local/bin/brokerbench /usr/local/bin/brokerbench
USER brokerbench
# Inside a container the HTTP endpoints listen on all interfaces; override per role with BB_LISTEN.
ENV BB_LISTEN=0.0.0.0:8080
EXPOSE 8080 9090 50051
ENTRYPOINT ["brokerbench"]
CMD ["--help"]
