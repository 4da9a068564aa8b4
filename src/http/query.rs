//! `?limit=&after=` of the paged reads (`GET /products`, `GET /orders`, `GET /events`,
//! `GET /stats/top`):
//! one parser, so every paged resource refuses the same mistakes with the same 400s.

use super::error::ApiError;
use warp::{Filter, Rejection};

/// How a resource pages.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    /// The `limit` when none is given.
    pub default_limit: u64,
    /// The largest `limit` accepted (the smallest is 1).
    pub max_limit: u64,
    /// Whether the resource continues after a position (`after`); if not, `after` is an
    /// unknown parameter.
    pub takes_after: bool,
}

/// A parsed page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Continue after this id or sequence number (`None`: from the start).
    pub after: Option<u64>,
    /// At most this many items, within the resource's bounds.
    pub limit: usize,
}

/// The query string as a [`Page`]; anything wrong with it is a 400.
pub fn page(paging: Paging) -> impl Filter<Extract = (Page,), Error = Rejection> + Clone {
    warp::query::<Vec<(String, String)>>()
        .or_else(|_| async {
            Err::<(Vec<(String, String)>,), Rejection>(warp::reject::custom(ApiError::invalid(
                "malformed query string",
            )))
        })
        .and_then(move |pairs: Vec<(String, String)>| async move {
            parse(&pairs, paging).map_err(warp::reject::custom)
        })
}

/// Parses decoded query pairs: only `limit` (and `after`, if the resource takes it), each at
/// most once, each a non-negative integer, `limit` within the resource's bounds.
pub fn parse(pairs: &[(String, String)], paging: Paging) -> Result<Page, ApiError> {
    let mut limit = None;
    let mut after = None;
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "limit" => &mut limit,
            "after" if paging.takes_after => &mut after,
            _ => return Err(ApiError::invalid(format!("unknown query parameter {name}"))),
        };
        if slot.is_some() {
            return Err(ApiError::invalid(format!("{name} is given more than once")));
        }
        *slot = number(name, Some(value))?;
    }
    let limit = limit.unwrap_or(paging.default_limit);
    if !(1..=paging.max_limit).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be from 1 to {}",
            paging.max_limit
        )));
    }
    Ok(Page {
        after,
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
    })
}

/// A position or count given by the client (`name` says where, for the message).
pub fn number(name: &str, raw: Option<&str>) -> Result<Option<u64>, ApiError> {
    raw.map(|v| {
        v.parse::<u64>()
            .map_err(|_| ApiError::invalid(format!("{name} must be a non-negative integer")))
    })
    .transpose()
}

/// Where a stream resumes: after `Last-Event-ID` (set by reconnecting clients), which wins
/// over `?after=`; `None` when neither is given.
pub fn stream_position(
    last_event_id: Option<String>,
    query: &std::collections::HashMap<String, String>,
) -> Result<Option<u64>, ApiError> {
    match last_event_id {
        Some(id) => number("Last-Event-ID", Some(id.trim())),
        None => number("after", query.get("after").map(String::as_str)),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse, Page, Paging};

    const PAGING: Paging = Paging {
        default_limit: 50,
        max_limit: 500,
        takes_after: true,
    };

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_given_values() {
        assert_eq!(
            parse(&[], PAGING).unwrap(),
            Page {
                after: None,
                limit: 50
            }
        );
        let q = pairs(&[("after", "7"), ("limit", "500")]);
        assert_eq!(
            parse(&q, PAGING).unwrap(),
            Page {
                after: Some(7),
                limit: 500
            }
        );
    }

    #[test]
    fn bad_values_unknown_and_repeated_parameters_are_refused() {
        for q in [
            &[("limit", "0")][..],
            &[("limit", "501")],
            &[("limit", "x")],
            &[("limit", "")],
            &[("after", "-1")],
            &[("foo", "1")],
            &[("limit", "1"), ("limit", "2")],
        ] {
            let e = parse(&pairs(q), PAGING).unwrap_err();
            assert_eq!(e.status, 400, "{q:?}");
        }
    }

    #[test]
    fn after_is_unknown_where_a_resource_does_not_take_it() {
        let top = Paging {
            takes_after: false,
            ..PAGING
        };
        assert!(parse(&pairs(&[("after", "1")]), top).is_err());
        assert!(parse(&pairs(&[("limit", "1")]), top).is_ok());
    }
}
