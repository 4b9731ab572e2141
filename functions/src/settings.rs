//! Spark's `spark.*` settings that change what a function answers, kept
//! in the session's DataFusion options.
//!
//! [`SparkSettings`] is a DataFusion config extension under the prefix
//! `spark`: `SET spark.sql.legacy.javaCharsets = true` (or
//! `spark.conf.set`) stores the value there. Executors do not get the
//! extension; a function that reads a setting does so while the driver
//! plans (in its `simplify`) and writes the value into the plan as a
//! literal argument.

use std::any::Any;
use std::collections::BTreeMap;

use datafusion::common::config::{ConfigEntry, ConfigExtension, ConfigOptions, ExtensionOptions};
use datafusion::common::Result;

/// The `spark.*` settings of a session (see the module documentation).
#[derive(Debug, Default, Clone)]
pub struct SparkSettings {
    values: BTreeMap<String, String>,
}

impl ConfigExtension for SparkSettings {
    const PREFIX: &'static str = "spark";
}

impl ExtensionOptions for SparkSettings {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        // Spark's keys are case-sensitive, but `SET` users write them as
        // documented; values are kept as given.
        self.values
            .insert(key.to_string(), value.trim().to_string());
        Ok(())
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        self.values
            .iter()
            .map(|(k, v)| ConfigEntry {
                key: format!("spark.{k}"),
                value: Some(v.clone()),
                description: "a Spark setting",
            })
            .collect()
    }
}

/// Whether boolean setting `key` (the full `spark.` name) is `true` in
/// `config`; `false` when not set or not a session with Spark settings.
pub fn flag(config: &ConfigOptions, key: &str) -> bool {
    let Some(key) = key.strip_prefix("spark.") else {
        return false;
    };
    config
        .extensions
        .get::<SparkSettings>()
        .and_then(|s| s.values.get(key))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The value of setting `key` (the full `spark.` name) in `config`, when
/// set in a session with Spark settings.
pub fn value<'c>(config: &'c ConfigOptions, key: &str) -> Option<&'c str> {
    let key = key.strip_prefix("spark.")?;
    config
        .extensions
        .get::<SparkSettings>()
        .and_then(|s| s.values.get(key))
        .map(|v| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_back() {
        let mut config = ConfigOptions::new();
        config.extensions.insert(SparkSettings::default());
        assert!(!flag(&config, "spark.sql.legacy.javaCharsets"));
        config.set("spark.sql.legacy.javaCharsets", "TRUE").unwrap();
        assert!(flag(&config, "spark.sql.legacy.javaCharsets"));
        assert!(!flag(
            &ConfigOptions::new(),
            "spark.sql.legacy.javaCharsets"
        ));
    }
}
