# Sourced by the setup scripts: the PySpark client stack Kiln's tests pin
# (scripts/setup-pyspark.sh), which the Sail benchmark venv reuses.
PYSPARK_CLIENT_VERSION=4.2.0
PANDAS_VERSION=2.3.3
PYARROW_VERSION=22.0.0
