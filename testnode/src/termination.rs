//! Containers' termination messages, as the kubelet reports them in
//! `state.terminated.message`: what the process wrote to its
//! `terminationMessagePath` (default `/dev/termination-log`, under the
//! container's mount root here), else, with `terminationMessagePolicy:
//! FallbackToLogsOnError` and a failed run, the end of its log.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Container;

/// Most bytes read from the message file (the kubelet's limit).
const MAX_FILE_BYTES: usize = 4096;
/// Most lines and bytes of log taken by `FallbackToLogsOnError`.
const FALLBACK_LINES: usize = 80;
const FALLBACK_BYTES: usize = 2048;

/// The message file of `spec` under the container's mount `root`.
pub fn file(root: &Path, spec: &Container) -> PathBuf {
    let path = spec
        .termination_message_path
        .as_deref()
        .filter(|p| !p.is_empty())
        .unwrap_or("/dev/termination-log");
    root.join(path.trim_start_matches('/'))
}

/// The message of a run that ended with `code` and logged to `log`.
pub fn message(root: &Path, spec: &Container, log: &Path, code: i32) -> Option<String> {
    if let Ok(bytes) = std::fs::read(file(root, spec)) {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_FILE_BYTES)]).into_owned();
        if !text.trim().is_empty() {
            return Some(text);
        }
    }
    let fallback = spec.termination_message_policy.as_deref() == Some("FallbackToLogsOnError");
    if !fallback || code == 0 {
        return None;
    }
    let text = String::from_utf8_lossy(&std::fs::read(log).ok()?).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(FALLBACK_LINES)..].join("\n");
    let mut cut = tail.len().saturating_sub(FALLBACK_BYTES);
    while !tail.is_char_boundary(cut) {
        cut += 1;
    }
    let tail = &tail[cut..];
    (!tail.trim().is_empty()).then(|| tail.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_wins_then_the_log_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let log = dir.path().join("0.log");
        std::fs::write(&log, "a\nerror: boom\n").unwrap();
        let mut spec = Container {
            name: "c".into(),
            ..Container::default()
        };
        assert_eq!(message(&root, &spec, &log, 1), None);
        spec.termination_message_policy = Some("FallbackToLogsOnError".into());
        assert_eq!(
            message(&root, &spec, &log, 1).as_deref(),
            Some("a\nerror: boom")
        );
        assert_eq!(message(&root, &spec, &log, 0), None);
        std::fs::create_dir_all(root.join("dev")).unwrap();
        std::fs::write(root.join("dev/termination-log"), "the reason").unwrap();
        assert_eq!(
            message(&root, &spec, &log, 0).as_deref(),
            Some("the reason")
        );
    }
}
