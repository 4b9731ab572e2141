//! The values both Kiln's engine (`kiln-core`) and its operator
//! (`kiln-operator`, which does not depend on the engine) read or make: one
//! parser per unit, so that `spec.conf`, the manifest, the CRDs and the
//! controller agree on what `2g` or `1h30m` means.
//!
//! - [`memory`]: memory sizes, Spark's (`512m`, `2g`) and Kubernetes'
//!   (`512Mi`, `2Gi`) units, and the CRD pattern that admits them;
//! - [`duration`]: durations (`500ms`, `10s`, `1h30m`, `1.5h`, a bare number
//!   of seconds);
//! - [`secret`]: the random secret an application's processes share;
//! - [`count`]: counts written for people (`1.23M`).
//!
//! Errors are plain sentences naming the value: the caller adds which
//! setting or field it came from.

pub mod count;
pub mod duration;
pub mod memory;
pub mod secret;

/// The number `text` starts with (digits, optionally a `.` and more
/// digits, as the CRD patterns write it) and what follows it; `None` when
/// it starts with no such number.
fn leading_number(text: &str) -> Option<(f64, &str)> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (num, rest) = text.split_at(end);
    let valid = num.starts_with(|c: char| c.is_ascii_digit())
        && !num.ends_with('.')
        && num.matches('.').count() <= 1;
    let value = num.parse().ok().filter(|_| valid)?;
    Some((value, rest))
}
