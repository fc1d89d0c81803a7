//! The ids the Hub layout needs: uuid4 row ids and ULID file names, as the original.

/// A random RFC 4122 version-4 UUID, as the original's `uuid.uuid4()`.
pub fn uuid4() -> String {
    let mut b = fastrand::u128(..).to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A ULID (48-bit millisecond time, 80 random bits) as its 128-bit value.
pub fn new_ulid() -> u128 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    (ms & ((1 << 48) - 1)) << 80 | (fastrand::u128(..) & ((1 << 80) - 1))
}

/// The ULID's canonical 26-character Crockford base-32 text.
pub fn ulid_text(ulid: u128) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    (0..26)
        .rev()
        .map(|i| ALPHABET[((ulid >> (5 * i)) & 31) as usize] as char)
        .collect()
}

/// The original's Hub path for a file: `default/train/{ULID mod 1000:03}/{ULID}.parquet`.
pub fn omega_layout_path(ulid: u128) -> String {
    format!(
        "default/train/{:03}/{}.parquet",
        ulid % 1000,
        ulid_text(ulid)
    )
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_formats() {
        let u = uuid4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4", "version nibble");
        assert!("89ab".contains(&u[19..20]), "variant bits");
        assert_ne!(uuid4(), u);
        // The ULID spec's example: 01ARZ3NDEKTSV4RRFFQ69G5FAV.
        let example: u128 = 0x01563E3AB5D3D6764C61EFB99302BD5B;
        assert_eq!(ulid_text(example), "01ARZ3NDEKTSV4RRFFQ69G5FAV");
        assert_eq!(
            omega_layout_path(example),
            format!(
                "default/train/{:03}/01ARZ3NDEKTSV4RRFFQ69G5FAV.parquet",
                example % 1000
            )
        );
        let a = new_ulid();
        assert_eq!(ulid_text(a).len(), 26);
        assert!(a >> 80 > 0, "time bits are set");
    }
}
