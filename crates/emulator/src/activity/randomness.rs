//! Deterministic randomness: the per-slot ChaCha generator, a cheap stateless mixer for stable
//! world facts (record GUIDs, day plans), Poisson draws and GUID text.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The generator for one time slot of one content type, derived from everything that identifies
/// the slot, so that a slot always produces the same records whoever asks and in whatever order.
pub(crate) fn slot_rng(
    seed: u64,
    tenant: Uuid,
    content_type: &str,
    start: i64,
    end: i64,
) -> ChaCha8Rng {
    let mut hasher = Sha256::new();
    hasher.update(b"d365audit-emulator-activity-v1");
    hasher.update(seed.to_le_bytes());
    hasher.update(tenant.as_bytes());
    hasher.update((content_type.len() as u64).to_le_bytes());
    hasher.update(content_type.as_bytes());
    hasher.update(start.to_le_bytes());
    hasher.update(end.to_le_bytes());
    ChaCha8Rng::from_seed(hasher.finalize().into())
}

/// A stateless 64-bit mixer (SplitMix64 finalizer) for facts that must be stable without
/// storing them: `mix(mix(key, a), b)` is a good hash of `(key, a, b)`.
pub(crate) fn mix(key: u64, value: u64) -> u64 {
    let mut z = key ^ value.wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A small sequential generator seeded from a mixed key, for derived facts (day plans).
#[derive(Debug, Clone)]
pub(crate) struct Stream(u64);

impl Stream {
    pub(crate) fn new(key: u64) -> Self {
        Stream(key)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0, 0x5851_F42D_4C95_7F2D)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// Poisson-distributed count with mean `lambda` (Knuth for small means, a rounded normal
/// approximation for large ones: exact shape does not matter, stable means do).
pub(crate) fn poisson<R: Rng>(rng: &mut R, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda < 30.0 {
        let limit = (-lambda).exp();
        let mut product: f64 = rng.random();
        let mut count = 0u32;
        while product > limit {
            product *= rng.random::<f64>();
            count += 1;
        }
        count
    } else {
        let value = lambda + lambda.sqrt() * standard_normal(rng);
        value.round().max(0.0) as u32
    }
}

/// Standard normal draw (Box-Muller).
pub(crate) fn standard_normal<R: Rng>(rng: &mut R) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Standard normal draw from a derived stream.
pub(crate) fn standard_normal_from(stream: &mut Stream) -> f64 {
    let u1 = stream.unit().max(1e-12);
    let u2 = stream.unit();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A random (version 4) GUID drawn from the slot generator.
pub(crate) fn random_guid<R: Rng>(rng: &mut R) -> [u8; 16] {
    let mut bytes: [u8; 16] = rng.random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    bytes
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Where each byte's two hex digits go in the hyphenated form.
const GUID_POSITIONS: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/// Appends the 36-character lowercase hyphenated form of a GUID.
pub(crate) fn push_guid(out: &mut String, bytes: &[u8; 16]) {
    let mut text = *b"00000000-0000-0000-0000-000000000000";
    for (byte, &at) in bytes.iter().zip(GUID_POSITIONS.iter()) {
        text[at] = HEX[(byte >> 4) as usize];
        text[at + 1] = HEX[(byte & 0x0f) as usize];
    }
    // Only ASCII hex digits and hyphens were written.
    out.push_str(std::str::from_utf8(&text).unwrap_or_default());
}

/// The hyphenated text of a GUID.
pub(crate) fn guid_text(bytes: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    push_guid(&mut out, bytes);
    out
}

/// Appends `value` as `width` lowercase hex digits.
pub(crate) fn push_hex(out: &mut String, value: u64, width: usize) {
    for shift in (0..width).rev() {
        out.push(HEX[((value >> (shift * 4)) & 0xf) as usize] as char);
    }
}

/// Index into cumulative weights (`cumulative` ascending, last = total) for a draw in `[0, total)`.
pub(crate) fn pick_cumulative(cumulative: &[f64], draw: f64) -> usize {
    let index = cumulative.partition_point(|&c| c <= draw);
    index.min(cumulative.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_text_has_the_canonical_shape() {
        let mut rng = slot_rng(1, Uuid::nil(), "Audit.General", 0, 60);
        let text = guid_text(&random_guid(&mut rng));
        let parsed = Uuid::parse_str(&text).expect("valid guid");
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(text.len(), 36);
    }

    #[test]
    fn poisson_mean_is_close_to_lambda() {
        let mut rng = slot_rng(2, Uuid::nil(), "x", 0, 60);
        for lambda in [0.5, 4.0, 80.0] {
            let total: u64 = (0..20_000).map(|_| u64::from(poisson(&mut rng, lambda))).sum();
            let mean = total as f64 / 20_000.0;
            assert!((mean - lambda).abs() < lambda * 0.05 + 0.05, "lambda {lambda} mean {mean}");
        }
    }

    #[test]
    fn slot_rng_depends_on_every_input() {
        let base = slot_rng(1, Uuid::nil(), "Audit.General", 0, 60).random::<u64>();
        assert_eq!(base, slot_rng(1, Uuid::nil(), "Audit.General", 0, 60).random::<u64>());
        assert_ne!(base, slot_rng(2, Uuid::nil(), "Audit.General", 0, 60).random::<u64>());
        assert_ne!(base, slot_rng(1, Uuid::max(), "Audit.General", 0, 60).random::<u64>());
        assert_ne!(base, slot_rng(1, Uuid::nil(), "Audit.Exchange", 0, 60).random::<u64>());
        assert_ne!(base, slot_rng(1, Uuid::nil(), "Audit.General", 60, 120).random::<u64>());
    }
}
