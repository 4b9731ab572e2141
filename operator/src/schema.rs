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

/// A memory size as Kiln reads it ([`kiln_values::memory`]).
pub use kiln_values::memory::MEMORY_PATTERN;

/// Default upper bound of executor counts in the CRDs (`executor.instances`,
/// `dynamicAllocation.{min,initial,max}Executors`), so one typo cannot ask
/// for a hundred million pods. The chart's `crds.limits.executors` raises it.
pub const MAX_EXECUTORS: i32 = 1000;
/// Default upper bound of `cores` (driver and executors); chart value
/// `crds.limits.cores`.
pub const MAX_CORES: i32 = 64;
/// Default upper bound of `memory` (driver and executors), in GiB; chart
/// value `crds.limits.memoryGiB`.
pub const MAX_MEMORY_GIB: u32 = 1024;

/// The CEL rule bounding a memory size to [`MAX_MEMORY_GIB`]: the number
/// times its unit's bytes (the units of [`MEMORY_PATTERN`]). A value the
/// pattern refuses is left to the pattern's message.
pub fn memory_rule() -> String {
    // Kubernetes' CEL has no variables in CRD rules: the unit is found once
    // per comparison.
    let unit = "self.find('[a-zA-Z]+$')";
    let factors: String = kiln_values::memory::UNITS
        .iter()
        .filter(|(_, bytes)| *bytes > 1)
        .map(|(names, bytes)| {
            let names: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
            format!("{unit} in [{}] ? {}.0 : ", names.join(", "), bytes)
        })
        .collect();
    format!(
        "!self.matches(r'{MEMORY_PATTERN}') || double(self.find(r'^[0-9]+(\\.[0-9]+)?')) * \
         ({factors}1.0) \
         <= double({MAX_MEMORY_GIB}) * 1073741824.0"
    )
}

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
