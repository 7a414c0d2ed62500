# Builds every binary of the workspace once; each service image runs one of them.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends protobuf-compiler && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --workspace --bins --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/kitchen-admin /src/target/release/command-gateway \
     /src/target/release/command-pump /src/target/release/worker /src/target/release/realtime /usr/local/bin/
ENV KITCHEN_ENV=container
USER 65534
