# syntax=docker/dockerfile:1
# One image for every Kiln role: `kiln operator`, `kiln driver`,
# `kiln executor` (and `kiln run`/`kiln gen` for local use).
#   docker build -t kiln:dev .
# Not built in our CI (no Docker there); scripts/kind-e2e.sh builds it.

FROM rust:1.94-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target folder between builds; the
# binary is copied out because the target folder is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p kiln-cli \
    && install -m 0755 target/release/kiln /kiln

# glibc and libgcc only (the C parts: zstd, lzma and mimalloc are linked
# statically); no shell, no package manager; user 65532 ("nonroot").
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /kiln /usr/local/bin/kiln
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/kiln"]
CMD ["--help"]
