"""The sensor variant: a task applies the SparkApplication and returns at
once, and SparkKubernetesSensor waits for it, reading
status.applicationState.state as kubeflow's operator writes it (COMPLETED
succeeds; FAILED raises, with the driver's log attached).

The application is named after the run's date, so each daily run gets its
own SparkApplication; kubectl apply (or `kiln submit --detach`) works as the
first task too.
"""

from datetime import datetime
from pathlib import Path

import yaml
from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
from airflow.providers.cncf.kubernetes.sensors.spark_kubernetes import SparkKubernetesSensor
from airflow.sdk import DAG, task

HERE = Path(__file__).resolve().parent
# The manifest next to the DAG (in your DAGs folder), else the repository's.
MANIFEST = next(
    p
    for p in (HERE / "monthly-revenue.yaml", HERE.parent / "k8s" / "monthly-revenue.yaml")
    if p.exists()
)
NAMESPACE = "default"

with DAG(
    dag_id="kiln_monthly_revenue_sensor",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["kiln"],
):

    @task
    def submit(ds_nodash: str | None = None) -> str:
        body = yaml.safe_load(MANIFEST.read_text())
        body["metadata"]["name"] = f"monthly-revenue-{ds_nodash}"
        body["metadata"]["namespace"] = NAMESPACE
        KubernetesHook(conn_id="kubernetes_default").create_custom_object(
            group="kiln.dev",
            version="v1alpha1",
            plural="sparkapplications",
            body=body,
            namespace=NAMESPACE,
        )
        return body["metadata"]["name"]

    name = submit()
    SparkKubernetesSensor(
        task_id="wait_for_monthly_revenue",
        application_name=name,
        namespace=NAMESPACE,
        api_group="kiln.dev",
        api_version="v1alpha1",
        attach_log=True,
        kubernetes_conn_id="kubernetes_default",
        poke_interval=30,
        timeout=6 * 3600,
    )
