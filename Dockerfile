# syntax=docker/dockerfile:1
# One image for every Kiln role: `kiln operator`, `kiln driver`,
# `kiln executor` (and `kiln run`/`kiln gen` for local use), with a pinned
# Python for `type: Python` applications (PySpark scripts run in the driver
# pod against the driver's own Spark Connect endpoint) and Python UDFs.
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

# The Python environment: the Spark Connect client Kiln is tested with
# (pyspark-client 4.2.0), pandas and pyarrow for toPandas()/Arrow, and
# cloudpickle for Python UDFs. Built in the same base image as the runtime
# so the virtualenv's interpreter path is the same.
FROM python:3.11.14-slim-bookworm AS python
RUN python -m venv /opt/kiln/python \
    && /opt/kiln/python/bin/pip install --no-cache-dir \
       pyspark-client==4.2.0 pandas==2.3.3 pyarrow==22.0.0 cloudpickle==3.1.2

# Debian slim with that Python; `kiln` linked against its glibc. User 65532
# ("nonroot", as in the operator's securityContext).
FROM python:3.11.14-slim-bookworm
COPY --from=python /opt/kiln/python /opt/kiln/python
COPY --from=builder /kiln /usr/local/bin/kiln
# How `kiln driver` finds the Python of `type: Python` applications (Spark's
# variable; `spark.pyspark.python` in spec.conf overrides it).
ENV PYSPARK_PYTHON=/opt/kiln/python/bin/python
RUN useradd --uid 65532 --user-group --no-create-home --home-dir /tmp nonroot
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/kiln"]
CMD ["--help"]
