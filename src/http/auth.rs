//! Bearer-token authentication as a filter that yields the [`Caller`].

use super::with_actors;
use crate::actors::{Actors, Error};
use crate::domain::UserId;
use warp::http::HeaderValue;
use warp::{Filter, Rejection};

/// Who is calling, as established by their token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: UserId,
    pub is_admin: bool,
    /// Kept so logout can revoke exactly this session.
    pub token: String,
}

impl Caller {
    pub fn ensure_admin(&self) -> Result<(), Error> {
        if self.is_admin {
            Ok(())
        } else {
            Err(Error::Forbidden)
        }
    }
}

fn bearer(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Requires a valid, unexpired bearer token.
pub fn caller(actors: Actors) -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    // The raw value, not `header::optional::<String>`: that rejects a non-ASCII value as an
    // invalid header, which loses to a sibling route's 405; such a value is simply no token.
    let header = warp::header::value("authorization")
        .map(Some)
        .or(warp::any().map(|| None::<HeaderValue>))
        .unify();
    header.and(with_actors(actors)).and_then(
        |header: Option<HeaderValue>, actors: Actors| async move {
            let header = header.as_ref().and_then(|h| h.to_str().ok());
            let token = bearer(header).ok_or(Error::Unauthorized)?;
            let session = actors.authenticate(token)?;
            Ok::<_, Rejection>(Caller {
                user_id: session.user_id,
                is_admin: session.is_admin,
                token: token.to_owned(),
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn only_a_nonempty_bearer_token_is_accepted() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer   abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(Some("abc")), None);
        assert_eq!(bearer(None), None);
    }
}
