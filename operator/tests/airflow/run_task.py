"""One Airflow task against Kiln, outside a scheduler: the real
SparkKubernetesOperator.execute() or SparkKubernetesSensor.poke() of
apache-airflow-providers-cncf-kubernetes, called with a task-instance context
as Airflow's task runner passes it. Used by operator/tests/chart_apps.rs.

    run_task.py operator MANIFEST NAMESPACE RUN_ID TRY_NUMBER
    run_task.py sensor APPLICATION NAMESPACE
    run_task.py dags FOLDER

The cluster is $KUBECONFIG (the `kubernetes_default` connection is set from
it). The last line printed is a JSON object: the outcome.
"""

import json
import logging
import os
import sys
import time
import traceback
from datetime import datetime

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(name)s: %(message)s")
KUBECONFIG = os.environ["KUBECONFIG"]
os.environ.setdefault(
    "AIRFLOW_CONN_KUBERNETES_DEFAULT",
    json.dumps({"conn_type": "kubernetes", "extra": {"kube_config_path": KUBECONFIG, "in_cluster": False}}),
)

from airflow.sdk import DAG  # noqa: E402

DAG_ID = "kiln_airflow_test"


class TaskInstance:
    """The task instance fields the Kubernetes operators read, and its XComs."""

    def __init__(self, task_id, try_number):
        self.dag_id = DAG_ID
        self.task_id = task_id
        self.try_number = try_number
        self.map_index = -1
        self.xcom = {}

    def xcom_push(self, key, value, **_):
        self.xcom[key] = value


def context(dag, task, run_id, try_number):
    ti = TaskInstance(task.task_id, try_number)
    return {"ti": ti, "task_instance": ti, "run_id": run_id, "dag": dag, "task": task}


def done(outcome):
    print(json.dumps(outcome), flush=True)


def run_operator(manifest, namespace, run_id, try_number):
    from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator

    dag = DAG(dag_id=DAG_ID, schedule=None, start_date=datetime(2026, 1, 1))
    op = SparkKubernetesOperator(
        task_id="kiln_job",
        dag=dag,
        namespace=namespace,
        application_file=manifest,
        kubernetes_conn_id="kubernetes_default",
        get_logs=True,
        reattach_on_restart=True,
        # Kept, so the test can read its status afterwards.
        delete_on_termination=False,
        startup_timeout_seconds=120,
    )
    ctx = context(dag, op, run_id, try_number)
    try:
        op.execute(ctx)
    except Exception as e:  # what Airflow would mark the task failed with
        traceback.print_exc(file=sys.stdout)
        done({"ok": False, "error": f"{type(e).__name__}: {e}", "name": op.name})
        return 1
    done({"ok": True, "name": op.name, "pod": op.pod.metadata.name, "xcom": ctx["ti"].xcom})
    return 0


def run_sensor(application, namespace):
    from airflow.providers.cncf.kubernetes.sensors.spark_kubernetes import SparkKubernetesSensor

    dag = DAG(dag_id=DAG_ID, schedule=None, start_date=datetime(2026, 1, 1))
    sensor = SparkKubernetesSensor(
        task_id="kiln_wait",
        dag=dag,
        application_name=application,
        namespace=namespace,
        api_group="kiln.dev",
        api_version="v1alpha1",
        attach_log=True,
        kubernetes_conn_id="kubernetes_default",
    )
    ctx = context(dag, sensor, "manual__sensor", 1)
    pokes = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        pokes += 1
        try:
            if sensor.poke(ctx):
                done({"ok": True, "pokes": pokes})
                return 0
        except Exception as e:
            traceback.print_exc(file=sys.stdout)
            done({"ok": False, "pokes": pokes, "error": f"{type(e).__name__}: {e}"})
            return 1
        time.sleep(1)
    done({"ok": False, "pokes": pokes, "error": "still not finished after 240 s"})
    return 2


def load_dags(folder):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=folder)
    dags = {
        d.dag_id: {
            "schedule": str(d.schedule) if hasattr(d, "schedule") else None,
            "tasks": {t.task_id: type(t).__name__ for t in d.tasks},
        }
        for d in bag.dags.values()
    }
    done({"ok": not bag.import_errors, "errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags})
    return 0 if not bag.import_errors else 1


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    if mode == "operator":
        sys.exit(run_operator(rest[0], rest[1], rest[2], int(rest[3])))
    if mode == "sensor":
        sys.exit(run_sensor(rest[0], rest[1]))
    if mode == "dags":
        sys.exit(load_dags(rest[0]))
    sys.exit(f"unknown mode {mode}")
