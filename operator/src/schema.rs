//! Schema pieces shared by the custom resources: value patterns and the
//! hand-written schemas of Kubernetes-typed fields whose full OpenAPI schema
//! would make the CRDs too large for client-side `kubectl apply` (the
//! `last-applied-configuration` annotation is limited to 256 KiB).
//!
//! Such fields keep their real `k8s-openapi` Rust type (the controller copies
//! them into pods as they are) but are published as objects with
//! `x-kubernetes-preserve-unknown-fields`; the API server checks them when the
//! operator creates the pod that uses them.

use schemars::{json_schema, Schema, SchemaGenerator};

/// A memory size as Kiln reads it: a number with an optional unit, either
/// Spark's (`512m`, `2g`, `1t`, `k`/`kb`...) or Kubernetes' binary suffixes
/// (`512Mi`, `1Gi`).
pub const MEMORY_PATTERN: &str =
    r"^[0-9]+(\.[0-9]+)?(b|B|k|K|kb|KB|Ki|m|M|mb|MB|Mi|g|G|gb|GB|Gi|t|T|tb|TB|Ti)?$";

/// A schedule: five cron fields (minute hour day-of-month month day-of-week,
/// each digits, names, `*`, `?`, ranges, steps and lists), a predefined
/// `@hourly`-style descriptor, or `@every <duration>` with Go duration units
/// (`@every 10s`, `@every 1h30m`).
pub const SCHEDULE_PATTERN: &str = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every ([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+|[0-9A-Za-z*?/,-]+( +[0-9A-Za-z*?/,-]+){4})$";

/// An object the API server stores as given (`x-kubernetes-preserve-unknown-fields`).
pub fn preserved_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// A list of objects the API server stores as given.
pub fn preserved_object_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
        },
    })
}
