//! The event log writer: Spark's rolling (v2) layout, written while the
//! application runs.
//!
//! ```text
//! <dir>/eventlog_v2_<appId>/
//!     appstatus_<appId>.inprogress     renamed to appstatus_<appId> at the end
//!     events_1_<appId>[.zstd]          JSON lines, rolled at spark.eventLog.rolling.maxFileSize
//!     events_2_<appId>[.zstd]
//!     logs/driver.log, logs/executor-<id>.log   archived at the end
//! ```
//!
//! Lines are buffered and written in batches (every second, at every job
//! end, and when the buffer grows): with zstd each batch is one complete
//! frame appended to the file, so a reader of a log still being written
//! (Spark's History Server, `kiln history`) can decode every finished batch.

use kiln_core::events::Event;

use super::spark_json::{preamble, to_spark};
use super::store::{LogFolder, LogStoreError};

/// How event log files are compressed (`spark.eventLog.compress`,
/// `spark.eventLog.compression.codec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Plain JSON lines.
    None,
    /// zstd frames (Spark's `zstd` codec).
    Zstd,
}

impl Codec {
    /// The file name suffix Spark reads the codec from.
    pub fn suffix(self) -> &'static str {
        match self {
            Codec::None => "",
            Codec::Zstd => ".zstd",
        }
    }
}

/// Event-log settings of an application.
#[derive(Debug, Clone)]
pub struct EventLogSettings {
    /// Where logs go.
    pub folder: LogFolder,
    /// Compression.
    pub codec: Codec,
    /// Uncompressed bytes after which the writer starts a new file.
    pub max_file_bytes: u64,
}

/// One event as a log line, its `Event` key first: Spark's History Server
/// finds the events of its application listing by the start of the line
/// (`{"Event":"SparkListenerApplicationStart"`), and serde_json's maps sort keys.
pub fn event_line(v: &serde_json::Value) -> serde_json::Result<String> {
    let Some(obj) = v.as_object() else {
        return serde_json::to_string(v);
    };
    let Some(name) = obj.get("Event") else {
        return serde_json::to_string(v);
    };
    let mut rest = obj.clone();
    rest.remove("Event");
    let body = serde_json::to_string(&rest)?;
    let head = format!("{{\"Event\":{}", serde_json::to_string(name)?);
    Ok(match body.as_str() {
        "{}" => format!("{head}}}"),
        _ => format!("{head},{}", &body[1..]),
    })
}

/// Spark's way of making an application id safe for a file name.
pub fn sanitize(app_id: &str) -> String {
    app_id
        .chars()
        .map(|c| match c {
            ' ' | ':' | '/' => '-',
            '.' | '$' | '{' | '}' | '\'' | '"' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// The folder of one application's log.
pub fn log_dir_name(app_id: &str) -> String {
    format!("eventlog_v2_{}", sanitize(app_id))
}

/// Writes one application's event log.
#[derive(Debug)]
pub struct EventLogWriter {
    settings: EventLogSettings,
    dir: String,
    id: String,
    index: u32,
    /// Uncompressed bytes in the current file.
    file_bytes: u64,
    /// The current file's content so far, for stores that rewrite whole objects.
    whole: Vec<u8>,
    pending: Vec<u8>,
    /// Lines written (for the conformance test and the summary).
    pub lines: u64,
}

/// Pending bytes that trigger a write without waiting for the next tick.
const FLUSH_BYTES: usize = 256 << 10;
/// On object stores each write rewrites the part: keep parts small.
const OBJECT_PART_BYTES: u64 = 8 << 20;

impl EventLogWriter {
    /// Starts the log of `app_id`: its folder, the in-progress marker and the
    /// first file with Spark's preamble.
    pub async fn start(
        settings: EventLogSettings,
        app_id: &str,
        cores: u32,
    ) -> Result<Self, LogStoreError> {
        settings.folder.check().await?;
        let id = sanitize(app_id);
        let dir = log_dir_name(app_id);
        settings
            .folder
            .write(&format!("{dir}/appstatus_{id}.inprogress"), vec![])
            .await?;
        let mut w = EventLogWriter {
            settings,
            dir,
            id,
            index: 1,
            file_bytes: 0,
            whole: vec![],
            pending: vec![],
            lines: 0,
        };
        for v in preamble(cores) {
            w.push_line(&v);
        }
        w.flush().await?;
        Ok(w)
    }

    /// The folder of this log, relative to the event log folder.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    fn file_name(&self) -> String {
        format!(
            "{}/events_{}_{}{}",
            self.dir,
            self.index,
            self.id,
            self.settings.codec.suffix()
        )
    }

    fn push_line(&mut self, v: &serde_json::Value) {
        // A Value always serializes.
        if let Ok(line) = event_line(v) {
            self.pending.extend_from_slice(line.as_bytes());
            self.pending.push(b'\n');
            self.lines += 1;
        }
    }

    /// Adds `event`; writes at once when it ends a job or the application,
    /// or when enough is buffered.
    pub async fn write(&mut self, event: &Event) -> Result<(), LogStoreError> {
        for v in to_spark(event) {
            self.push_line(&v);
        }
        let now = matches!(
            event,
            Event::JobEnd { .. } | Event::ApplicationEnd { .. } | Event::SqlEnd { .. }
        );
        if now || self.pending.len() >= FLUSH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes what is buffered (one zstd frame when compressed), then rolls
    /// to a new file when the current one is full.
    pub async fn flush(&mut self) -> Result<(), LogStoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let raw = std::mem::take(&mut self.pending);
        let bytes = match self.settings.codec {
            Codec::None => raw.clone(),
            Codec::Zstd => zstd::bulk::compress(&raw, 3)
                .map_err(|e| LogStoreError::Io(format!("zstd: {e}")))?,
        };
        let is_object = matches!(self.settings.folder, LogFolder::Object { .. });
        if is_object {
            self.whole.extend_from_slice(&bytes);
        }
        let name = self.file_name();
        self.settings
            .folder
            .append(&name, &bytes, &self.whole)
            .await?;
        self.file_bytes += raw.len() as u64;
        let limit = if is_object {
            self.settings.max_file_bytes.min(OBJECT_PART_BYTES)
        } else {
            self.settings.max_file_bytes
        };
        if self.file_bytes >= limit {
            self.index += 1;
            self.file_bytes = 0;
            self.whole.clear();
        }
        Ok(())
    }

    /// Copies log files into the log's `logs/` folder (`name` -> content).
    pub async fn archive(&self, name: &str, content: Vec<u8>) -> Result<(), LogStoreError> {
        self.settings
            .folder
            .write(&format!("{}/logs/{name}", self.dir), content)
            .await
    }

    /// Writes what is left and marks the log complete.
    pub async fn finish(mut self) -> Result<(), LogStoreError> {
        self.flush().await?;
        self.settings
            .folder
            .rename(
                &format!("{}/appstatus_{}.inprogress", self.dir, self.id),
                &format!("{}/appstatus_{}", self.dir, self.id),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_key_comes_first() {
        let v = serde_json::json!({"App ID": "a", "Event": "SparkListenerApplicationStart", "Timestamp": 1});
        let line = event_line(&v).unwrap();
        assert!(
            line.starts_with(r#"{"Event":"SparkListenerApplicationStart","#),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<serde_json::Value>(&line).unwrap(), v);
        let only = serde_json::json!({"Event": "X"});
        assert_eq!(event_line(&only).unwrap(), r#"{"Event":"X"}"#);
    }
}
