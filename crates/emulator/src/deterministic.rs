//! Seeded, stateless hashing: every "random" choice of the emulator (latencies, faulty blobs,
//! duplicated records) is a pure function of the seed and what it is about, so runs repeat.

use uuid::Uuid;

/// Salts that keep the choices of different decisions independent of each other.
pub(crate) mod salt {
    pub(crate) const LATENCY: u64 = 0x4c41_5445_4e43_5901;
    pub(crate) const EXPIRED: u64 = 0x4558_5049_5245_4402;
    pub(crate) const MALFORMED: u64 = 0x4d41_4c46_4f52_4d03;
    pub(crate) const DUPLICATE: u64 = 0x4455_504c_4943_4104;
    pub(crate) const LATE: u64 = 0x4c41_5445_424c_4f05;
    pub(crate) const STRAGGLER: u64 = 0x5354_5241_4747_4c06;
    pub(crate) const SHUFFLE: u64 = 0x5348_5546_464c_4507;
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A well-mixed 64-bit hash of a sequence of values.
pub(crate) fn mix(parts: &[u64]) -> u64 {
    parts.iter().fold(0x6A09_E667_F3BC_C908, |h, p| splitmix(h ^ splitmix(*p)))
}

/// Maps a hash to a number in `[0, 1)`.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// True for about `fraction` of the hashes.
pub(crate) fn chosen(h: u64, fraction: f64) -> bool {
    fraction > 0.0 && unit(h) < fraction
}

/// A stable 64-bit key for a tenant.
pub(crate) fn tenant_key(tenant: Uuid) -> u64 {
    let (a, b) = tenant.as_u64_pair();
    mix(&[a, b])
}

/// A stable 64-bit key for a string (FNV-1a, then mixed).
pub(crate) fn text_key(text: &str) -> u64 {
    let fnv = text
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    splitmix(fnv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixing_is_stable_and_order_sensitive() {
        assert_eq!(mix(&[1, 2, 3]), mix(&[1, 2, 3]));
        assert_ne!(mix(&[1, 2, 3]), mix(&[3, 2, 1]));
        assert_ne!(text_key("a"), text_key("b"));
    }

    #[test]
    fn chosen_fraction_is_roughly_respected() {
        let hits = (0..10_000u64).filter(|i| chosen(mix(&[7, *i]), 0.25)).count();
        assert!((2_200..2_800).contains(&hits), "{hits}");
        assert!(!(0..1000u64).any(|i| chosen(mix(&[i]), 0.0)));
        assert!((0..1000u64).all(|i| chosen(mix(&[i]), 1.0)));
    }
}
