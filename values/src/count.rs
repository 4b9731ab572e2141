//! Counts (rows, records) as people read them: [`human_count`] writes
//! `1234567` as `1.23M`, for the driver's progress lines and the UI.

/// `1234567` -> `1.23M`.
pub fn human_count(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}K", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.2}M", n as f64 / 1e6),
        _ => format!("{:.2}G", n as f64 / 1e9),
    }
}
