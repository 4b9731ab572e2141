# syntax=docker/dockerfile:1
# One image for every Kiln role: `kiln operator`, `kiln driver`,
# `kiln executor` (and `kiln run`/`kiln gen` for local use), with a pinned
# Python for `type: Python` applications and Python UDFs.
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

# Python (pinned) for `type: Python` applications (PySpark scripts run in
# the driver pod against the driver's own Spark Connect endpoint) and the
# executors' Python UDF workers: the pinned client, pandas and pyarrow (the
# same pins as scripts/setup-pyspark.sh) and cloudpickle. Add your own with
# a derived image:
#   FROM kiln:dev
#   COPY requirements.txt /tmp/
#   RUN pip install --no-cache-dir -r /tmp/requirements.txt
# (see docs/pyspark.md, "Python UDFs").
FROM python:3.11.14-slim-bookworm
RUN pip install --no-cache-dir pyspark-client==4.2.0 pandas==2.3.3 pyarrow==22.0.0 \
       cloudpickle==3.1.2 \
    && useradd --uid 65532 --no-create-home nonroot
COPY --from=builder /kiln /usr/local/bin/kiln
# Spark's variable: how `kiln driver` finds the Python of `type: Python`
# applications and executors that of UDF workers (`spark.pyspark.python` in
# spec.conf overrides it).
ENV PYSPARK_PYTHON=/usr/local/bin/python3
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/kiln"]
CMD ["--help"]
