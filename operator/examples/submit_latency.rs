//! Submission latency of the operator: from `kubectl apply` of a
//! SparkApplication returning to its driver pod existing in the API.
//!
//! Applies `--runs` applications one at a time (plus one warm-up run that
//! is not counted) in `--namespace`, each measured alone: a watch on driver
//! pods (label `kiln.dev/role=driver`) notes when each application's driver
//! pod first appears; after each run the application is deleted and the
//! helper waits until its pods are gone, so runs do not overlap. Prints one
//! line per run and the median / p90 / min / max; the last line is
//! machine-readable (`RESULT median_ms=... p90_ms=...`).
//!
//! Needs `KUBECONFIG` (or ~/.kube/config), `kubectl` on `PATH` (or
//! `--kubectl`), and an operator watching the namespace.
//! `bench/submit-latency.sh` sets all of that up on the test control plane.
//!
//!     submit_latency [--runs 20] [--namespace kiln-bench] [--kubectl kubectl]

use std::collections::HashSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kiln_operator::SparkApplication;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, ResourceExt};
use tokio::sync::mpsc;

/// Longest wait for one driver pod or one clean-up.
const PATIENCE: Duration = Duration::from_secs(60);

struct Opts {
    runs: usize,
    namespace: String,
    kubectl: String,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        runs: 20,
        namespace: "kiln-bench".into(),
        kubectl: std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into()),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--runs" => o.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--namespace" => o.namespace = value()?,
            "--kubectl" => o.kubectl = value()?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    Ok(o)
}

#[tokio::main]
async fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(opts).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(opts: Opts) -> Result<(), String> {
    let client = Client::try_default()
        .await
        .map_err(|e| format!("kubeconfig: {e}"))?;
    ensure_namespace(&client, &opts.namespace).await?;
    let mut seen = watch_driver_pods(&client, &opts.namespace).await?;

    let mut after_apply = Vec::new();
    let mut with_kubectl = Vec::new();
    // Run 0 warms up the operator's caches and the connection; not counted.
    for i in 0..=opts.runs {
        let name = format!("lat-{}-{i:02}", std::process::id());
        let (since_start, since_return) = one_run(&opts, &name, &mut seen).await?;
        let label = if i == 0 {
            "warm-up".to_string()
        } else {
            format!("run {i:2}")
        };
        println!(
            "{label}: driver pod {:>7.1} ms after kubectl apply returned ({:>7.1} ms after it started)",
            ms(since_return),
            ms(since_start)
        );
        if i > 0 {
            after_apply.push(since_return);
            with_kubectl.push(since_start);
        }
        clean_up(&client, &opts.namespace, &name).await?;
    }
    let a = Summary::of(&after_apply);
    let k = Summary::of(&with_kubectl);
    println!();
    println!(
        "kubectl apply returned -> driver pod exists, {} runs: median {:.1} ms, p90 {:.1} ms, min {:.1} ms, max {:.1} ms",
        opts.runs, a.median, a.p90, a.min, a.max
    );
    println!(
        "kubectl apply started  -> driver pod exists, {} runs: median {:.1} ms, p90 {:.1} ms, min {:.1} ms, max {:.1} ms",
        opts.runs, k.median, k.p90, k.min, k.max
    );
    println!(
        "RESULT runs={} median_ms={:.1} p90_ms={:.1} min_ms={:.1} max_ms={:.1} with_kubectl_median_ms={:.1} with_kubectl_p90_ms={:.1}",
        opts.runs, a.median, a.p90, a.min, a.max, k.median, k.p90
    );
    Ok(())
}

async fn ensure_namespace(client: &Client, ns: &str) -> Result<(), String> {
    let api: Api<Namespace> = Api::all(client.clone());
    let obj: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": ns}}))
        .map_err(|e| e.to_string())?;
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(format!("creating namespace {ns}: {e}")),
    }
}

/// Starts a watch on driver pods; returns once the watch has its initial
/// list, then yields `(application label, first seen)` for every new pod.
async fn watch_driver_pods(
    client: &Client,
    ns: &str,
) -> Result<mpsc::UnboundedReceiver<(String, Instant)>, String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let config = watcher::Config::default().labels("kiln.dev/role=driver");
    let mut events = watcher::watcher(pods, config).default_backoff().boxed();
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut ready = Some(ready_tx);
        let mut known = HashSet::new();
        while let Some(ev) = events.next().await {
            let now = Instant::now();
            match ev {
                Ok(Event::Apply(p)) | Ok(Event::InitApply(p)) => {
                    if known.insert(p.name_any()) {
                        let app = p.labels().get("kiln.dev/app").cloned().unwrap_or_default();
                        if tx.send((app, now)).is_err() {
                            return;
                        }
                    }
                }
                Ok(Event::InitDone) => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
                Ok(_) => {}
                Err(e) => eprintln!("warning: pod watch: {e}"),
            }
        }
    });
    tokio::time::timeout(PATIENCE, ready_rx)
        .await
        .map_err(|_| "the pod watch did not start".to_string())?
        .map_err(|_| "the pod watch ended".to_string())?;
    Ok(rx)
}

/// Applies application `name` with kubectl and waits for its driver pod;
/// returns the time from kubectl's start and from its return.
async fn one_run(
    opts: &Opts,
    name: &str,
    seen: &mut mpsc::UnboundedReceiver<(String, Instant)>,
) -> Result<(Duration, Duration), String> {
    let manifest = format!(
        "apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata:\n  name: {name}\n  namespace: {}\nspec:\n  sql: SELECT 1\n  executor:\n    instances: 1\n",
        opts.namespace
    );
    let started = Instant::now();
    let mut child = Command::new(&opts.kubectl)
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running {}: {e}", opts.kubectl))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(manifest.as_bytes())
            .map_err(|e| format!("kubectl stdin: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("kubectl: {e}"))?;
    let returned = Instant::now();
    if !out.status.success() {
        return Err(format!(
            "kubectl apply failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let next = tokio::time::timeout_at(deadline, seen.recv())
            .await
            .map_err(|_| {
                format!("no driver pod for {name} within {PATIENCE:?}: is the operator running?")
            })?
            .ok_or("the pod watch ended")?;
        if next.0 == name {
            let at = next.1;
            return Ok((
                at.saturating_duration_since(started),
                at.saturating_duration_since(returned),
            ));
        }
    }
}

/// Deletes the application and waits until none of its pods is left.
async fn clean_up(client: &Client, ns: &str, name: &str) -> Result<(), String> {
    let apps: Api<SparkApplication> = Api::namespaced(client.clone(), ns);
    match apps.delete(name, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(format!("deleting {name}: {e}")),
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let selector = format!("kiln.dev/app={name}");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| format!("listing pods: {e}"))?
            .items
            .len();
        if left == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{left} pods of {name} still there after {PATIENCE:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median, 90th percentile (nearest rank), min and max in milliseconds.
struct Summary {
    median: f64,
    p90: f64,
    min: f64,
    max: f64,
}

impl Summary {
    fn of(samples: &[Duration]) -> Self {
        let mut v: Vec<f64> = samples.iter().map(|d| ms(*d)).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        let rank = ((0.9 * n as f64).ceil() as usize).clamp(1, n);
        Self {
            median,
            p90: v[rank - 1],
            min: v[0],
            max: v[n - 1],
        }
    }
}
