# Build: the release binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p tearsheet-api --bin tearsheet

# Run: a small image with the binary only. It expects DATABASE_URL (see docker-compose.yml);
# the embedded default needs PostgreSQL server binaries, which this image leaves out.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 tearsheet
COPY --from=build /src/target/release/tearsheet /usr/local/bin/tearsheet
USER tearsheet
ENV TEARSHEET_LISTEN=0.0.0.0:8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD curl -fsS http://127.0.0.1:8000/readyz || exit 1
ENTRYPOINT ["tearsheet"]
CMD ["serve"]
