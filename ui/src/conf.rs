//! The UI's and the event log's settings, with Spark's keys and defaults
//! (`spark.ui.*`, `spark.eventLog.*`) and Kiln's own (`kiln.ui.*`).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::eventlog::store::LogFolder;
use crate::eventlog::writer::{Codec, EventLogSettings};
use crate::graph::SkewRule;
use crate::UiError;

/// `spark.ui.enabled`: serve the UI (default true).
pub const UI_ENABLED: &str = "spark.ui.enabled";
/// `spark.ui.port`: the UI's port (default 4040; the next free one when taken).
pub const UI_PORT: &str = "spark.ui.port";
/// `spark.ui.proxyBase`: the path every link starts with.
pub const UI_PROXY_BASE: &str = "spark.ui.proxyBase";
/// `spark.driver.bindAddress`: the address the UI listens on.
pub const BIND_ADDRESS: &str = "spark.driver.bindAddress";
/// `spark.port.maxRetries`: how many ports after `spark.ui.port` are tried.
pub const PORT_RETRIES: &str = "spark.port.maxRetries";
/// `spark.eventLog.enabled` (default false).
pub const EVENT_LOG_ENABLED: &str = "spark.eventLog.enabled";
/// `spark.eventLog.dir` (default `/tmp/spark-events`): a folder or `s3://bucket/prefix`.
pub const EVENT_LOG_DIR: &str = "spark.eventLog.dir";
/// `spark.eventLog.compress` (default true, as in Spark 4).
pub const EVENT_LOG_COMPRESS: &str = "spark.eventLog.compress";
/// `spark.eventLog.compression.codec`: `zstd` (default) or `none`.
pub const EVENT_LOG_CODEC: &str = "spark.eventLog.compression.codec";
/// `spark.eventLog.rolling.maxFileSize` (default 128m).
pub const EVENT_LOG_MAX_FILE: &str = "spark.eventLog.rolling.maxFileSize";
/// `kiln.ui.skew.ratio`: max over median rows of an operator's tasks that flags skew.
pub const SKEW_RATIO: &str = "kiln.ui.skew.ratio";
/// `kiln.ui.skew.minRows`: rows by which the busiest task must exceed the median.
pub const SKEW_MIN_ROWS: &str = "kiln.ui.skew.minRows";
/// `kiln.ui.retainAfterEnd`: how long `kiln run` keeps serving the UI after
/// the application ended (default 0; a SIGTERM or Ctrl-C ends it sooner).
pub const RETAIN_AFTER_END: &str = "kiln.ui.retainAfterEnd";

/// Settings of the live UI and event log.
#[derive(Debug, Clone)]
pub struct UiSettings {
    /// Serve the UI.
    pub enabled: bool,
    /// Host to listen on.
    pub host: String,
    /// First port to try.
    pub port: u16,
    /// Further ports to try.
    pub port_retries: u16,
    /// Link prefix.
    pub proxy_base: String,
    /// Skew rule.
    pub rule: SkewRule,
    /// The event log, when enabled.
    pub event_log: Option<EventLogSettings>,
    /// How long the UI stays up after the application ended.
    pub retain_after_end: Duration,
}

fn bad(key: &str, msg: String) -> UiError {
    UiError::Setting {
        key: key.to_string(),
        message: msg,
    }
}

fn flag(conf: &BTreeMap<String, String>, key: &str, default: bool) -> Result<bool, UiError> {
    match conf.get(key).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(bad(key, format!("expected true or false, found `{v}`"))),
    }
}

impl UiSettings {
    /// Reads the settings from `conf`; `default_host` is where the UI
    /// listens unless `spark.driver.bindAddress` says otherwise.
    pub fn parse(conf: &BTreeMap<String, String>, default_host: &str) -> Result<Self, UiError> {
        let own = [SKEW_RATIO, SKEW_MIN_ROWS, RETAIN_AFTER_END];
        if let Some(k) = conf
            .keys()
            .find(|k| k.starts_with("kiln.ui.") && !own.contains(&k.as_str()))
        {
            return Err(bad(
                k,
                format!("unknown setting (known: {})", own.join(", ")),
            ));
        }
        let port = match conf.get(UI_PORT) {
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| bad(UI_PORT, format!("`{v}` is not a port number")))?,
            None => 4040,
        };
        let port_retries = match conf.get(PORT_RETRIES) {
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| bad(PORT_RETRIES, format!("`{v}` is not a count")))?,
            None => 16,
        };
        let event_log = if flag(conf, EVENT_LOG_ENABLED, false)? {
            let dir = conf
                .get(EVENT_LOG_DIR)
                .cloned()
                .unwrap_or_else(|| "/tmp/spark-events".to_string());
            let folder =
                LogFolder::open(&dir, conf).map_err(|e| bad(EVENT_LOG_DIR, e.to_string()))?;
            let codec = if flag(conf, EVENT_LOG_COMPRESS, true)? {
                match conf
                    .get(EVENT_LOG_CODEC)
                    .map(|c| c.trim().to_ascii_lowercase())
                {
                    None => Codec::Zstd,
                    Some(c) if c == "zstd" => Codec::Zstd,
                    Some(c) if c == "none" => Codec::None,
                    Some(c) => {
                        return Err(bad(
                            EVENT_LOG_CODEC,
                            format!("Kiln writes zstd or none, not `{c}`"),
                        ))
                    }
                }
            } else {
                Codec::None
            };
            let max_file_bytes = match conf.get(EVENT_LOG_MAX_FILE) {
                Some(v) => kiln_values::memory::parse_memory(v)
                    .map_err(|m| bad(EVENT_LOG_MAX_FILE, m))?
                    .max(1 << 20),
                None => 128 << 20,
            };
            Some(EventLogSettings {
                folder,
                codec,
                max_file_bytes,
            })
        } else {
            None
        };
        let mut rule = SkewRule::default();
        if let Some(v) = conf.get(SKEW_RATIO) {
            rule.ratio = v
                .trim()
                .parse()
                .ok()
                .filter(|r: &f64| *r >= 1.0)
                .ok_or_else(|| bad(SKEW_RATIO, format!("`{v}` is not a ratio of at least 1")))?;
        }
        if let Some(v) = conf.get(SKEW_MIN_ROWS) {
            rule.min_rows = v
                .trim()
                .parse()
                .map_err(|_| bad(SKEW_MIN_ROWS, format!("`{v}` is not a row count")))?;
        }
        let retain_after_end = match conf.get(RETAIN_AFTER_END) {
            Some(v) => {
                kiln_core::config::parse_duration(v).map_err(|e| bad(RETAIN_AFTER_END, e))?
            }
            None => Duration::ZERO,
        };
        Ok(UiSettings {
            enabled: flag(conf, UI_ENABLED, true)?,
            host: conf
                .get(BIND_ADDRESS)
                .cloned()
                .unwrap_or_else(|| default_host.to_string()),
            port,
            port_retries,
            proxy_base: crate::server::normalize_base(
                conf.get(UI_PROXY_BASE).map(String::as_str).unwrap_or(""),
            ),
            rule,
            event_log,
            retain_after_end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_sparks() {
        let s = UiSettings::parse(&conf(&[]), "127.0.0.1").unwrap();
        assert!(s.enabled);
        assert_eq!(s.port, 4040);
        assert!(s.event_log.is_none());
        let s = UiSettings::parse(
            &conf(&[
                (EVENT_LOG_ENABLED, "true"),
                (EVENT_LOG_DIR, "/tmp/x"),
                (UI_PROXY_BASE, "proxy/app/"),
            ]),
            "127.0.0.1",
        )
        .unwrap();
        assert_eq!(s.proxy_base, "/proxy/app");
        let log = s.event_log.unwrap();
        assert_eq!(log.codec, Codec::Zstd);
        assert_eq!(log.max_file_bytes, 128 << 20);
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = UiSettings::parse(&conf(&[(UI_PORT, "http")]), "h").unwrap_err();
        assert!(e.to_string().contains(UI_PORT), "{e}");
        let e = UiSettings::parse(
            &conf(&[(EVENT_LOG_ENABLED, "true"), (EVENT_LOG_CODEC, "lz4")]),
            "h",
        )
        .unwrap_err();
        assert!(e.to_string().contains("lz4"), "{e}");
        let e = UiSettings::parse(
            &conf(&[
                (EVENT_LOG_ENABLED, "true"),
                (EVENT_LOG_DIR, "hdfs://nn/logs"),
            ]),
            "h",
        )
        .unwrap_err();
        assert!(e.to_string().contains("s3://"), "{e}");
    }
}
