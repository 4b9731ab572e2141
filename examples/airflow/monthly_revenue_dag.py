"""Runs Kiln's monthly revenue report every day with Airflow.

SparkKubernetesOperator (apache-airflow-providers-cncf-kubernetes) creates the
SparkApplication of examples/k8s/monthly-revenue.yaml (apiVersion
kiln.dev/v1alpha1: the operator takes the group and version from the
manifest), follows its driver pod `<name>-driver` and prints the log of its
`spark-kubernetes-driver` container into the task's log. The task fails with
Kiln's error message when the application fails, and re-attaches to the
running driver (found by its `spark-role=driver` label and the task's labels)
after a scheduler restart.

Copy this file and ../k8s/monthly-revenue.yaml into your DAGs folder; the
Kubernetes connection `kubernetes_default` names the cluster where Kiln's
operator runs (helm install kiln charts/kiln).
"""

from datetime import datetime
from pathlib import Path

from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator
from airflow.sdk import DAG

HERE = Path(__file__).resolve().parent
# The manifest next to the DAG (in your DAGs folder), else the repository's.
MANIFEST = next(
    p
    for p in (HERE / "monthly-revenue.yaml", HERE.parent / "k8s" / "monthly-revenue.yaml")
    if p.exists()
)

with DAG(
    dag_id="kiln_monthly_revenue",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["kiln"],
    # application_file is a template: Airflow renders the manifest from here.
    template_searchpath=[str(MANIFEST.parent)],
):
    SparkKubernetesOperator(
        task_id="monthly_revenue",
        namespace="default",
        application_file=MANIFEST.name,
        kubernetes_conn_id="kubernetes_default",
        # The application is deleted once the task is done (its output stays).
        delete_on_termination=True,
        get_logs=True,
        reattach_on_restart=True,
    )
