//! The one place records become bytes. Every stored value starts with a format-version byte, so
//! a later format can be read beside the old one; anything unreadable is a typed error, never a
//! panic.

use super::StorageError;
use serde::{de::DeserializeOwned, Serialize};

/// Records written today: bincode 2 (standard config) over serde.
const FORMAT_V1: u8 = 1;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![FORMAT_V1];
    // Our records are plain structs and enums: bincode's serde encoder only fails for types
    // it cannot size (e.g. iterators without a length), which we never store.
    bincode::serde::encode_into_std_write(value, &mut out, config())
        .expect("stored records are always encodable");
    out
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    match bytes.split_first() {
        Some((&FORMAT_V1, body)) => {
            let (value, read) = bincode::serde::decode_from_slice(body, config())
                .map_err(|e| StorageError::Corrupt(e.to_string()))?;
            if read != body.len() {
                return Err(StorageError::Corrupt(format!(
                    "{} trailing bytes after record",
                    body.len() - read
                )));
            }
            Ok(value)
        }
        Some((&version, _)) => Err(StorageError::UnknownFormat(version)),
        None => Err(StorageError::Corrupt("empty record".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CartId, CartStatus};

    #[test]
    fn records_round_trip_with_a_leading_version_byte() {
        let value = (CartId(9), CartStatus::Open, "tea".to_string());
        let bytes = encode(&value);
        assert_eq!(bytes[0], FORMAT_V1);
        assert_eq!(
            decode::<(CartId, CartStatus, String)>(&bytes).unwrap(),
            value
        );
    }

    #[test]
    fn unknown_versions_and_garbage_are_errors_not_panics() {
        assert!(matches!(
            decode::<u64>(&[99, 1, 2]),
            Err(StorageError::UnknownFormat(99))
        ));
        assert!(matches!(decode::<u64>(&[]), Err(StorageError::Corrupt(_))));
        assert!(matches!(
            decode::<String>(&[FORMAT_V1, 200, 1]),
            Err(StorageError::Corrupt(_))
        ));
        assert!(matches!(
            decode::<u8>(&[FORMAT_V1, 1, 2]),
            Err(StorageError::Corrupt(_))
        ));
    }
}
