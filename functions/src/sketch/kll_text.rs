//! The text of `kll_sketch_to_string_*`: DataSketches Java's summary of a
//! KLL sketch (`KllSketch.toString()`), rebuilt from the sketch and the
//! header of its compact image (levels, M, whether level 0 is sorted),
//! with Java's capacities of a heap sketch of that many levels.

use datasketches::kll::KllSketch;

use super::kll_item::Item;

/// Java's line separator on Linux.
const LS: &str = "\n";

/// What the compact image's header says about the sketch's layout.
struct Header {
    m: u8,
    levels: usize,
    level_zero_sorted: bool,
}

fn header(bytes: &[u8]) -> Header {
    let flags = bytes.get(3).copied().unwrap_or(0);
    let m = bytes.get(6).copied().unwrap_or(8);
    let full = bytes.first().copied() == Some(5);
    let levels = if full {
        usize::from(bytes.get(18).copied().unwrap_or(1))
    } else {
        1
    };
    Header {
        m,
        levels,
        level_zero_sorted: flags & 2 != 0,
    }
}

/// Java's `KllHelper.intCapAuxAux`: k * (2/3)^depth, rounded as Java does.
fn cap_aux_aux(k: u64, depth: u32) -> u64 {
    let twok = k << 1;
    let tmp = (twok << depth) / 3u64.pow(depth);
    (tmp + 1) >> 1
}

fn cap_aux(k: u64, depth: u32) -> u64 {
    if depth <= 30 {
        return cap_aux_aux(k, depth);
    }
    let half = depth / 2;
    cap_aux_aux(cap_aux_aux(k, half), depth - half)
}

/// The items a heap sketch of `levels` levels has room for.
fn total_capacity(k: u16, m: u8, levels: usize) -> u64 {
    (0..levels)
        .map(|level| {
            let depth = (levels - level - 1) as u32;
            cap_aux(u64::from(k), depth).max(u64::from(m))
        })
        .sum()
}

/// The size of Java's updatable image of a sketch: its 20-byte preamble,
/// the level boundaries, the min and max items and room for `capacity`
/// items.
fn updatable_bytes(capacity: u64, levels: usize, item_bytes: u64) -> u64 {
    20 + (levels as u64 + 1) * 4 + 2 * item_bytes + capacity * item_bytes
}

/// Java's `getNormalizedRankError` of a KLL sketch of min K `k`.
fn rank_error(k: u16, pmf: bool) -> f64 {
    let k = f64::from(k);
    if pmf {
        2.446 / k.powf(0.9433)
    } else {
        2.296 / k.powf(0.9723)
    }
}

/// The summary text of `sketch`, whose compact image is `bytes`.
pub(super) fn summary<T: Item>(sketch: &KllSketch<T>, bytes: &[u8]) -> String {
    let h = header(bytes);
    let capacity = total_capacity(sketch.k(), h.m, h.levels);
    let retained = sketch.num_retained() as u64;
    let line = |name: &str, value: String| format!("   {name:<23}: {value}{LS}");
    // Java names the sketch "Kll" + its class name: `KllKllLongsSketch`.
    let mut s = format!("{LS}### Kll{} Summary:{LS}", T::SKETCH);
    s += &line("K", sketch.k().to_string());
    s += &line("Dynamic min K", sketch.min_k().to_string());
    s += &line("M", h.m.to_string());
    s += &line("N", sketch.n().to_string());
    s += &line(
        "Epsilon",
        format!("{:.3}%", rank_error(sketch.min_k(), false) * 100.0),
    );
    s += &line(
        "Epsilon PMF",
        format!("{:.3}%", rank_error(sketch.min_k(), true) * 100.0),
    );
    s += &line("Empty", sketch.is_empty().to_string());
    s += &line("Estimation Mode", sketch.is_estimation_mode().to_string());
    s += &line("Levels", h.levels.to_string());
    s += &line("Level 0 Sorted", h.level_zero_sorted.to_string());
    s += &line("Capacity Items", capacity.to_string());
    s += &line("Retained Items", retained.to_string());
    s += &line("Free Space", capacity.saturating_sub(retained).to_string());
    s += &line("ReadOnly", "false".into());
    s += &line(
        "Updatable Storage Bytes",
        updatable_bytes(capacity, h.levels, T::BYTES).to_string(),
    );
    s += &line("Compact Storage Bytes", bytes.len().to_string());
    let item = |v: Option<&T>| v.map_or_else(|| "NaN".to_string(), |v| v.java_text());
    s += &line("Min Item", item(sketch.min_item()));
    s += &line("Max Item", item(sketch.max_item()));
    s += &format!("### End sketch summary{LS}");
    s
}
