//! Miner UIDs. On the Bittensor chain a UID is a `u16` (a subnet has at most 65 536 neurons),
//! so omega bounds every UID it reads, from a flag or a table, to that range: a UID of four
//! billion in a peer's file is refused, never used to size a vector.

/// A neuron's UID within a subnet.
pub type Uid = u16;

/// Why a value is not a UID.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UidError {
    #[error("UID {0} is out of range: UIDs are 0..=65535 (u16 on the chain)")]
    OutOfRange(i128),
    #[error("`{0}` is not a UID (a whole number 0..=65535)")]
    NotANumber(String),
}

/// A UID from any integer, refusing values outside `0..=65535`.
pub fn uid_from(value: impl Into<i128>) -> Result<Uid, UidError> {
    let v = value.into();
    Uid::try_from(v).map_err(|_| UidError::OutOfRange(v))
}

/// A UID from text (a flag, a config value).
pub fn parse_uid(text: &str) -> Result<Uid, UidError> {
    let t = text.trim();
    match t.parse::<i128>() {
        Ok(v) => uid_from(v),
        Err(_) => Err(UidError::NotANumber(t.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_bounded_to_u16() {
        assert_eq!(parse_uid("0"), Ok(0));
        assert_eq!(parse_uid(" 65535 "), Ok(65535));
        assert_eq!(parse_uid("65536"), Err(UidError::OutOfRange(65536)));
        assert_eq!(
            parse_uid("18446744073709551615"),
            Err(UidError::OutOfRange(18446744073709551615))
        );
        assert_eq!(parse_uid("-1"), Err(UidError::OutOfRange(-1)));
        assert!(matches!(parse_uid("x"), Err(UidError::NotANumber(_))));
        assert_eq!(
            uid_from(4_000_000_000i64),
            Err(UidError::OutOfRange(4_000_000_000))
        );
    }
}
