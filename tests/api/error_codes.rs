//! The error codes docs/api.md lists are exactly those the one error mapping
//! (`trolley::http::error`) can produce, each with its status.

use std::collections::BTreeSet;
use trolley::actors::Error;
use trolley::domain::{CartStatus, OrderId, ProductId, ValidationError};
use trolley::http::error::{recover, ApiError};
use trolley::storage::StorageError;
use warp::Filter;

const API_MD: &str = include_str!("../../docs/api.md");

/// How many variants `actors::Error` has.
const VARIANTS: usize = 23;

/// Each variant's place among [`VARIANTS`]. No wildcard: a new variant does not compile here
/// until it has a place, and then [`every_error`] until it has an example.
fn variant(e: &Error) -> usize {
    match e {
        Error::Invalid(_) => 0,
        Error::Unauthorized => 1,
        Error::InvalidCredentials => 2,
        Error::Forbidden => 3,
        Error::NotFound(_) => 4,
        Error::UsernameTaken => 5,
        Error::ProductNameTaken => 6,
        Error::InsufficientStock { .. } => 7,
        Error::CartClosed(_) => 8,
        Error::CartEmpty => 9,
        Error::KeyInUse => 10,
        Error::CheckoutInProgress(_) => 11,
        Error::Overloaded(_) => 12,
        Error::Unavailable(_) => 13,
        Error::Invariant(_) => 14,
        Error::DiskFull(_) => 15,
        Error::StorageFailed(_) => 16,
        Error::EventsTrimmed { .. } => 17,
        Error::EventsStillNeeded { .. } => 18,
        Error::BackupRefused(_) => 19,
        Error::Storage(_) => 20,
        Error::TooManyOpenCarts { .. } => 21,
        Error::PositionAheadOfLog { .. } => 22,
    }
}

/// One error of every variant.
fn every_error() -> Vec<Error> {
    let examples = vec![
        Error::Invalid(ValidationError::new("quantity", "must be 1–10000")),
        Error::Unauthorized,
        Error::InvalidCredentials,
        Error::Forbidden,
        Error::NotFound("cart"),
        Error::UsernameTaken,
        Error::ProductNameTaken,
        Error::InsufficientStock {
            product_id: ProductId(1),
            available: 0,
        },
        Error::CartClosed(CartStatus::CheckedOut),
        Error::CartEmpty,
        Error::KeyInUse,
        Error::CheckoutInProgress(OrderId(1)),
        Error::Overloaded("hashing"),
        Error::Unavailable("cart".into()),
        Error::Invariant("test".into()),
        Error::DiskFull("test".into()),
        Error::StorageFailed("test".into()),
        Error::EventsTrimmed { oldest: 5 },
        Error::EventsStillNeeded { max_before: 5 },
        Error::BackupRefused("test".into()),
        Error::Storage(StorageError::Corrupt("test".into())),
        Error::TooManyOpenCarts { limit: 1 },
        Error::PositionAheadOfLog { head: 5 },
    ];
    let covered: BTreeSet<usize> = examples.iter().map(variant).collect();
    assert_eq!(
        covered,
        (0..VARIANTS).collect(),
        "an example of every variant"
    );
    examples
}

/// Every `(status, code)` the gateway can answer with.
async fn producible() -> BTreeSet<(u16, String)> {
    let mut errors: Vec<ApiError> = every_error().into_iter().map(ApiError::from).collect();
    // The errors the gateway builds itself, rather than from an actor's answer.
    errors.extend([
        ApiError::invalid("test"),
        ApiError::rate_limited(1),
        ApiError::too_many_registrations(1),
        ApiError::too_many_idempotency_keys(1),
        ApiError::too_many_streams(1),
        ApiError::internal(),
        ApiError::payload_too_large(1),
        ApiError::length_required(),
        ApiError::unsupported_media_type(),
        ApiError::idempotency_key_reused(),
        ApiError::idempotency_in_progress(),
    ]);
    let mut out: BTreeSet<(u16, String)> = errors
        .iter()
        .map(|e| (e.status.as_u16(), e.code.to_owned()))
        .collect();
    // And the ones `recover` makes of warp's own rejections: no route, no such method.
    let route = warp::path!("x")
        .and(warp::get())
        .map(warp::reply)
        .recover(recover);
    for (method, path) in [("GET", "/y"), ("POST", "/x")] {
        let reply = warp::test::request()
            .method(method)
            .path(path)
            .reply(&route)
            .await;
        let body: serde_json::Value = serde_json::from_slice(reply.body()).unwrap();
        let code = body["error"]["code"].as_str().unwrap().to_owned();
        out.insert((reply.status().as_u16(), code));
    }
    out
}

/// The rows of api.md's "Error codes" table: `` | `code` | status | when | ``.
fn table() -> BTreeSet<(u16, String)> {
    let section = API_MD
        .split("\n## Error codes\n")
        .nth(1)
        .expect("docs/api.md has an \"Error codes\" section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .map(|row| {
            let (code, rest) = row.split_once('`').unwrap();
            let status = rest.split('|').nth(1).unwrap().trim();
            let status = status
                .parse()
                .unwrap_or_else(|_| panic!("{code}: {status}"));
            (status, code.to_owned())
        })
        .collect()
}

/// Codes the rest of api.md names beside a status: "409 `cart_closed`" and
/// "`length_required` (411".
fn mentioned() -> BTreeSet<(u16, String)> {
    let status_at_end = |s: &str| -> Option<u16> {
        let s = s.trim_end();
        let n = s.get(s.len().checked_sub(3)?..)?;
        let before = s[..s.len() - 3].chars().last();
        (before.is_none_or(|c| !c.is_alphanumeric()) && n.starts_with(['4', '5']))
            .then(|| n.parse().ok())
            .flatten()
    };
    let parts: Vec<&str> = API_MD.split('`').collect();
    let mut out = BTreeSet::new();
    for i in (1..parts.len().saturating_sub(1)).step_by(2) {
        let code = parts[i];
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            continue;
        }
        let after = parts[i + 1].strip_prefix(" (").and_then(|s| s.get(..3));
        let status = status_at_end(parts[i - 1]).or(after.and_then(|s| s.parse().ok()));
        if let Some(status) = status.filter(|s| (400..600).contains(s)) {
            out.insert((status, code.to_owned()));
        }
    }
    out
}

#[tokio::test]
async fn the_error_codes_docs_api_md_lists_are_exactly_the_ones_the_mapping_produces() {
    let producible = producible().await;
    let listed = table();
    let never_sent: Vec<_> = listed.difference(&producible).collect();
    assert!(
        never_sent.is_empty(),
        "api.md lists codes the server never sends: {never_sent:?}"
    );
    let unlisted: Vec<_> = producible.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "the server sends codes api.md does not list: {unlisted:?}"
    );
    let stray: Vec<_> = mentioned()
        .into_iter()
        .filter(|m| !listed.contains(m))
        .collect();
    assert!(
        stray.is_empty(),
        "api.md names codes outside its table: {stray:?}"
    );
}
