# Build: the same toolchain the project is developed with.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Workspace members: cargo reads their manifests even to build only the worker.
COPY kit ./kit
COPY bench ./bench
COPY migrations ./migrations
COPY config ./config
RUN cargo build --release --locked --bin mesa-ayuda

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 mesa
WORKDIR /app
COPY --from=build /src/target/release/mesa-ayuda /usr/local/bin/mesa-ayuda
COPY config ./config
USER mesa
EXPOSE 9464
ENTRYPOINT ["mesa-ayuda"]
CMD ["run"]
