//! `kiln-testcluster-up`: keeps one test cluster running for humans (used by
//! `up.sh`) until SIGTERM/SIGINT (sent by `down.sh`), then stops all of it.
//!
//! Writes into the state folder: `kubeconfig-path`, `dir` (the cluster's
//! folder, with `logs/`), and `ready` once the cluster is up.

use std::path::PathBuf;

fn main() -> std::process::ExitCode {
    let state = std::env::args()
        .skip_while(|a| a != "--state-dir")
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/kiln-testcluster")
        });
    if let Err(e) = std::fs::create_dir_all(&state) {
        eprintln!("cannot create {}: {e}", state.display());
        return std::process::ExitCode::FAILURE;
    }
    let cluster = match kiln_testcluster::TestCluster::start_with(kiln_testcluster::Options {
        work_dir: Some(state.clone()),
        ..Default::default()
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kiln-testcluster-up: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let info = cluster.info();
    let write = |name: &str, v: String| std::fs::write(state.join(name), v);
    let ok = write("kubeconfig-path", info.kubeconfig.display().to_string())
        .and_then(|_| write("dir", info.dir.display().to_string()))
        .and_then(|_| write("ready", String::new()));
    if let Err(e) = ok {
        eprintln!("kiln-testcluster-up: writing state: {e}");
        return std::process::ExitCode::FAILURE;
    }
    eprintln!(
        "kiln-testcluster-up: running; logs in {}",
        info.log_dir.display()
    );
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kiln-testcluster-up: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    });
    eprintln!("kiln-testcluster-up: stopping");
    drop(cluster);
    for f in ["kubeconfig-path", "dir", "ready"] {
        let _ = std::fs::remove_file(state.join(f));
    }
    std::process::ExitCode::SUCCESS
}
