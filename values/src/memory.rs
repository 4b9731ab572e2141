//! Memory sizes as Kiln reads them: a number, optionally with a fraction,
//! and a unit, either Spark's (`512m`, `2g`, `1t`, `k`/`kb`...) or
//! Kubernetes' binary suffixes (`512Mi`, `1Gi`). Every unit is binary
//! (`1g` = `1G` = `1Gi` = 2^30 bytes), as in Spark; a bare number is bytes.
//! [`human_bytes`] writes a size back for people (`1.5 KiB`).

/// The units and their bytes; [`MEMORY_PATTERN`] and the CRDs' CEL rule
/// spell the same list.
pub const UNITS: [(&[&str], u64); 5] = [
    (&["", "b", "B"], 1),
    (&["k", "K", "kb", "KB", "Ki"], 1 << 10),
    (&["m", "M", "mb", "MB", "Mi"], 1 << 20),
    (&["g", "G", "gb", "GB", "Gi"], 1 << 30),
    (&["t", "T", "tb", "TB", "Ti"], 1 << 40),
];

/// The pattern of a memory size (the CRDs' schema): what [`parse_memory`]
/// accepts.
pub const MEMORY_PATTERN: &str =
    r"^[0-9]+(\.[0-9]+)?(b|B|k|K|kb|KB|Ki|m|M|mb|MB|Mi|g|G|gb|GB|Gi|t|T|tb|TB|Ti)?$";

/// Bytes per unit of a memory size's suffix, `None` for an unknown unit.
pub fn unit_bytes(unit: &str) -> Option<u64> {
    UNITS
        .iter()
        .find(|(names, _)| names.contains(&unit))
        .map(|(_, bytes)| *bytes)
}

/// Bytes of a memory size (`512m`, `2g`, `1.5Gi`, `1024`); surrounding
/// blanks are ignored. Zero, a negative number, a number without digits or
/// an unknown unit is an error; a size beyond `u64` saturates.
pub fn parse_memory(s: &str) -> Result<u64, String> {
    let (value, unit) = crate::leading_number(s.trim())
        .ok_or_else(|| format!("`{s}` is not a memory size (examples: 512m, 2g, 1Gi)"))?;
    let mult = unit_bytes(unit).ok_or_else(|| {
        format!("`{s}` has an unknown unit `{unit}` (use k, m, g, t or Ki, Mi, Gi, Ti)")
    })?;
    let bytes = value * mult as f64;
    if bytes < 1.0 {
        return Err(format!("`{s}` must be greater than zero"));
    }
    // `as` saturates at u64::MAX.
    Ok(bytes as u64)
}

/// A size for people to read, in binary units: `1536` -> `1.5 KiB`,
/// `512` -> `512 B`.
pub fn human_bytes(n: u64) -> String {
    const NAMES: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < NAMES.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", NAMES[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert_eq!(human_bytes(u64::MAX), "16777216.0 TiB");
    }

    #[test]
    fn spark_and_kubernetes_units_are_binary() {
        assert_eq!(parse_memory("512m"), Ok(512 << 20));
        assert_eq!(parse_memory("512Mi"), Ok(512 << 20));
        assert_eq!(parse_memory("2g"), Ok(2 << 30));
        assert_eq!(parse_memory("2G"), Ok(2 << 30));
        assert_eq!(parse_memory("2GB"), Ok(2 << 30));
        assert_eq!(parse_memory("1t"), Ok(1 << 40));
        assert_eq!(parse_memory("4k"), Ok(4096));
        assert_eq!(parse_memory("1024"), Ok(1024));
        assert_eq!(parse_memory("10b"), Ok(10));
    }

    #[test]
    fn fractions_and_blanks() {
        assert_eq!(parse_memory("1.5g"), Ok(3 << 29));
        assert_eq!(parse_memory(" 2g "), Ok(2 << 30));
        assert_eq!(parse_memory("0.5k"), Ok(512));
    }

    #[test]
    fn bad_sizes_say_what_is_wrong() {
        for (input, says) in [
            ("", "is not a memory size"),
            ("g", "is not a memory size"),
            (".5g", "is not a memory size"),
            ("1.g", "is not a memory size"),
            ("1.2.3g", "is not a memory size"),
            ("-1g", "is not a memory size"),
            ("2x", "unknown unit `x`"),
            ("2 g", "unknown unit ` g`"),
            ("2gib", "unknown unit `gib`"),
            ("0", "greater than zero"),
            ("0.1b", "greater than zero"),
        ] {
            let e = parse_memory(input).expect_err(input);
            assert!(e.contains(says), "{input}: {e}");
            assert!(e.contains(&format!("`{input}`")), "{input}: {e}");
        }
    }

    #[test]
    fn huge_sizes_saturate() {
        assert_eq!(parse_memory("99999999999t"), Ok(u64::MAX));
    }

    #[test]
    fn the_pattern_lists_every_unit() {
        for (names, _) in UNITS {
            for name in names.iter().filter(|n| !n.is_empty()) {
                assert!(
                    MEMORY_PATTERN.contains(&format!("|{name}|"))
                        || MEMORY_PATTERN.contains(&format!("({name}|"))
                        || MEMORY_PATTERN.contains(&format!("|{name})")),
                    "{name}"
                );
            }
        }
    }
}
