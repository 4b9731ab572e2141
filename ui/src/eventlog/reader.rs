//! Reading event logs back: the applications in a folder (Spark's rolling
//! v2 layout; finished or still running), and the events of one of them,
//! decoded from Spark's JSON lines.

use std::io::Read;

use kiln_core::events::Event;

use super::spark_json::from_spark;
use super::store::{LogFolder, LogStoreError};

/// One application's log in a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Its folder's name (`eventlog_v2_<id>`).
    pub dir: String,
    /// The application id as it appears in file names.
    pub file_id: String,
    /// Whether the application ended (the `appstatus_` marker lost `.inprogress`).
    pub completed: bool,
    /// Its event files, in order.
    pub files: Vec<String>,
}

/// An error reading a log.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The folder could not be read.
    #[error(transparent)]
    Store(#[from] LogStoreError),
    /// A line is not an event Kiln can read.
    #[error("{file}, line {line}: {message}")]
    BadLine {
        /// The file.
        file: String,
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// The application logs in `folder`.
pub async fn list_logs(folder: &LogFolder) -> Result<Vec<LogEntry>, LogStoreError> {
    let mut out = vec![];
    for dir in folder.list("").await? {
        let Some(file_id) = dir.strip_prefix("eventlog_v2_") else {
            continue;
        };
        let names = folder.list(&dir).await?;
        let status = names.iter().find(|n| n.starts_with("appstatus_"));
        let Some(status) = status else { continue };
        let mut files: Vec<(u64, String)> = names
            .iter()
            .filter_map(|n| {
                let rest = n.strip_prefix("events_")?;
                let (index, _) = rest.split_once('_')?;
                Some((index.parse().ok()?, format!("{dir}/{n}")))
            })
            .collect();
        files.sort();
        out.push(LogEntry {
            dir: dir.clone(),
            file_id: file_id.to_string(),
            completed: !status.ends_with(".inprogress"),
            files: files.into_iter().map(|(_, f)| f).collect(),
        });
    }
    Ok(out)
}

/// Decompresses a file by its name's suffix. A log still being written may
/// end in a frame cut short: what decodes before it is kept.
fn decode(name: &str, bytes: Vec<u8>) -> Vec<u8> {
    if !name.ends_with(".zstd") && !name.ends_with(".zst") {
        return bytes;
    }
    let mut out = vec![];
    if let Ok(mut d) = zstd::stream::read::Decoder::new(bytes.as_slice()) {
        let mut buf = [0u8; 64 << 10];
        loop {
            match d.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    }
    out
}

/// The events of one application's log, in order. In a log still being
/// written, a last line cut short is skipped.
pub async fn read_events(folder: &LogFolder, entry: &LogEntry) -> Result<Vec<Event>, ReadError> {
    let mut events = vec![];
    let last_file = entry.files.len().saturating_sub(1);
    for (fi, file) in entry.files.iter().enumerate() {
        let text = decode(file, folder.read(file).await?);
        let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
        let n = lines.len();
        for (i, line) in lines.into_iter().enumerate() {
            if line.is_empty() {
                continue;
            }
            let value: serde_json::Value = match serde_json::from_slice(line) {
                Ok(v) => v,
                Err(_) if !entry.completed && fi == last_file && i + 1 == n => break,
                Err(e) => {
                    return Err(ReadError::BadLine {
                        file: file.clone(),
                        line: i + 1,
                        message: e.to_string(),
                    })
                }
            };
            match from_spark(&value) {
                Ok(Some(e)) => events.push(e),
                Ok(None) => {}
                Err(e) => {
                    return Err(ReadError::BadLine {
                        file: file.clone(),
                        line: i + 1,
                        message: e.to_string(),
                    })
                }
            }
        }
    }
    Ok(events)
}
