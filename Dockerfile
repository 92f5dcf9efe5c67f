# syntax=docker/dockerfile:1
#
# The image of the example app `examples/agents`: `docker build -t fastsaas-agents .`
# from the repository's root. docs/deployment.md says how to run it;
# tests/deploy.rs checks this file against the settings the app reads.

# The tag's version is rust-toolchain.toml's channel, so rustup finds that
# toolchain already installed instead of downloading another.
FROM rust:1.95.0-slim-bookworm AS chef
# cargo-chef rather than BuildKit cache mounts: its cooked dependencies are an
# ordinary layer, so `--cache-from` a registry and CI runners that start empty
# reuse it too; cache mounts stay on the one machine that filled them.
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# The recipe changes only with the manifests and Cargo.lock: an edit of the
# sources starts below this line. `--examples` compiles the dev-dependencies
# an example links, with the same features as the build that follows.
RUN cargo chef cook --release --locked --examples -p fastsaas --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --example agents

# glibc and libgcc_s, which the binary links, and a user that is not root;
# no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /src/target/release/examples/agents /usr/local/bin/agents
# Numeric, so Kubernetes' `runAsNonRoot` can verify it.
USER 65532:65532
# The default, 127.0.0.1, cannot be reached from outside the container.
# Production also refuses to start without FASTSAAS_JWT_SECRET and a real
# DATABASE_URL, so an image run without them stops instead of serving on
# a throwaway key and a file inside the container.
ENV FASTSAAS_BIND=0.0.0.0:8000 \
    FASTSAAS_ENV=production
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/agents"]
