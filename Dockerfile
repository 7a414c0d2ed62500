# syntax=docker/dockerfile:1
# One image for every service and tool: built once (`docker compose build`,
# or `docker build -t kitchen-backend:local .`), run with the binary's name as
# the command. Dependencies are compiled in their own cached layer (cargo-chef),
# so changing our sources rebuilds only our crates.

FROM rust:1-bookworm AS chef
# protoc builds the Temporal SDK's protobuf types.
RUN apt-get update \
    && apt-get install -y --no-install-recommends protobuf-compiler \
    && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bins \
        -p command-gateway -p command-pump -p worker -p realtime -p kitchen-adapters

FROM debian:bookworm-slim AS runtime
# ca-certificates: TLS to JWKS endpoints; curl: the health checks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/kitchen-admin /src/target/release/command-gateway \
     /src/target/release/command-pump /src/target/release/worker /src/target/release/realtime \
     /usr/local/bin/
WORKDIR /app
COPY configuration/ /app/configuration/
ENV KITCHEN_ENV=container
# nobody: the services need no privileges and write nothing to disk.
USER 65534:65534
EXPOSE 8080 8081 8082 8083
CMD ["command-gateway"]
