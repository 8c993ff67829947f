//! Fresh UIDs under the root `2.25` (PS3.5 B.2): the decimal form of a
//! random (version 4) UUID, so no registered organisation root is needed
//! and two exports never collide.

use crate::DicomOutError;

/// chexlens's Implementation Class UID, in every file's meta group: a UUID
/// drawn once (3fe1d34c-ddec-4cf4-98f6-37301e9db26e) under `2.25`.
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.84913916206068614871734939020519387758";

/// A new UID: `2.25.` and a random version 4 UUID as one decimal number
/// (at most 44 characters, within the 64 DICOM allows).
pub fn new_uid() -> Result<String, DicomOutError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| DicomOutError::NoRandomness(e.to_string()))?;
    Ok(uid_from_random(bytes))
}

/// The UID of 16 random bytes, with the UUID version (4) and variant bits set.
pub fn uid_from_random(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    format!("2.25.{}", u128::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_uuids_under_2_25() {
        // Python: uuid.UUID('3fe1d34c-ddec-4cf4-98f6-37301e9db26e').int
        let bytes = 0x3fe1d34c_ddec_4cf4_98f6_37301e9db26e_u128.to_be_bytes();
        assert_eq!(uid_from_random(bytes), IMPLEMENTATION_CLASS_UID);
        let a = new_uid().unwrap();
        let b = new_uid().unwrap();
        assert_ne!(a, b);
        for uid in [&a, &b] {
            assert!(uid.starts_with("2.25.") && uid.len() <= 64, "{uid}");
            assert!(
                uid[5..].bytes().all(|c| c.is_ascii_digit()) && !uid[5..].starts_with('0'),
                "{uid}"
            );
            let n: u128 = uid[5..].parse().unwrap();
            assert_eq!((n >> 76) & 0xf, 4, "version 4");
            assert_eq!((n >> 62) & 0x3, 2, "RFC 4122 variant");
        }
    }
}
