//! The secret an application's processes share (the driver checks it on
//! every executor call): made once per application, by `kiln run` or by the
//! operator, which keeps it in the application's Kubernetes Secret.

/// Bytes of randomness in a secret.
pub const SECRET_BYTES: usize = 32;

/// A fresh secret: [`SECRET_BYTES`] bytes from the OS's random source,
/// hex-encoded (64 characters). Fails only when the OS has no random source.
pub fn random_secret() -> Result<String, String> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random source for a secret: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_64_hex_characters_and_fresh() {
        let a = random_secret().expect("random source");
        let b = random_secret().expect("random source");
        assert_eq!(a.len(), 2 * SECRET_BYTES);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }
}
