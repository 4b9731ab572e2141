//! MurmurHash3 x86_32's mixing steps, shared by Spark's `hash` (Spark's
//! `Murmur3_x86_32`) and the seeding of Spark's random generator (Scala's
//! `MurmurHash3`), which mix alike.

/// MurmurHash3 x86_32's mixing of one 32-bit block into `h` (Scala's
/// `mix`, Spark's `mixH1(h, mixK1(k))`).
pub fn mix(h: i32, k: i32) -> i32 {
    mix_last(h, k)
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64_u32 as i32)
}

/// MurmurHash3's mixing of the last (partial) block into `h`.
pub fn mix_last(h: i32, k: i32) -> i32 {
    let k = k
        .wrapping_mul(0xcc9e_2d51_u32 as i32)
        .rotate_left(15)
        .wrapping_mul(0x1b87_3593);
    h ^ k
}

/// MurmurHash3's finalization of `h` after `length` bytes.
pub fn finalize(h: i32, length: i32) -> i32 {
    let mut h = (h ^ length) as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h as i32
}
