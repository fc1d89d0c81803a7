//! Lower-case hex, as the chain, the SDK and the hashes print bytes.

/// Bytes as lower-case hex, without a prefix.
pub fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `0x`-prefixed (or bare) hex; None when it is not whole bytes of hex digits.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let digits = text.trim().trim_start_matches("0x");
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
        .collect()
}
