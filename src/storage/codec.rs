//! The one place records become bytes. Every stored value starts with a format-version byte, so
//! a later format can be read beside the old one; anything unreadable is a typed error, never a
//! panic.
//!
//! | byte | format |
//! |------|--------|
//! | 1    | bincode 2 (standard config) over serde |
//! | 2    | format 1's bytes, deflated (raw DEFLATE): for large repetitive records such as a recorded HTTP answer |

use super::StorageError;
use serde::{de::DeserializeOwned, Serialize};

/// Records written today: bincode 2 (standard config) over serde.
const FORMAT_V1: u8 = 1;

/// Records written by [`encode_compact`] when deflating makes them smaller.
const FORMAT_DEFLATED: u8 = 2;
/// Deflate's fastest level: JSON answers shrink ~10x at it, in tens of microseconds.
const DEFLATE_LEVEL: u8 = 1;
/// The most a deflated record may inflate to; more is corruption, not a record of ours.
const INFLATED_MAX: usize = 64 * 1024 * 1024;

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

/// Like [`encode`], deflated when that makes the record smaller (format 2); [`decode`] reads
/// either. For records that are large and repetitive, where the CPU buys disk.
pub fn encode_compact<T: Serialize>(value: &T) -> Vec<u8> {
    let plain = encode(value);
    let deflated = miniz_oxide::deflate::compress_to_vec(&plain[1..], DEFLATE_LEVEL);
    if deflated.len() + 1 >= plain.len() {
        return plain;
    }
    let mut out = Vec::with_capacity(deflated.len() + 1);
    out.push(FORMAT_DEFLATED);
    out.extend_from_slice(&deflated);
    out
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    match bytes.split_first() {
        Some((&FORMAT_V1, body)) => decode_v1(body),
        Some((&FORMAT_DEFLATED, deflated)) => {
            let body = miniz_oxide::inflate::decompress_to_vec_with_limit(deflated, INFLATED_MAX)
                .map_err(|e| StorageError::Corrupt(format!("deflated record: {e}")))?;
            decode_v1(&body)
        }
        Some((&version, _)) => Err(StorageError::UnknownFormat(version)),
        None => Err(StorageError::Corrupt("empty record".into())),
    }
}

fn decode_v1<T: DeserializeOwned>(body: &[u8]) -> Result<T, StorageError> {
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
    fn a_repetitive_record_is_stored_deflated_and_reads_back_the_same() {
        let body = br#"{"product_id":12,"name":"tea","quantity":1},"#.repeat(100);
        let compact = encode_compact(&body);
        assert_eq!(compact[0], FORMAT_DEFLATED);
        assert!(compact.len() * 5 < body.len(), "{} bytes", compact.len());
        assert_eq!(decode::<Vec<u8>>(&compact).unwrap(), body);
        // A format-1 record (as written before format 2 existed) still reads.
        assert_eq!(decode::<Vec<u8>>(&encode(&body)).unwrap(), body);
    }

    #[test]
    fn a_record_deflate_cannot_shrink_stays_in_format_1() {
        let short = "x".to_string();
        assert_eq!(encode_compact(&short), encode(&short));
    }

    #[test]
    fn unknown_versions_and_garbage_are_errors_not_panics() {
        assert!(matches!(
            decode::<u64>(&[FORMAT_DEFLATED, 0xff, 0xff]),
            Err(StorageError::Corrupt(_))
        ));
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
