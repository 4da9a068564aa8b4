//! The browser front end: a storefront (`GET /`) and an operator console (`GET /console`),
//! plain HTML, JavaScript modules and CSS compiled into the binary from `web/` (no build step,
//! nothing from a CDN), and the favicon (`GET /favicon.ico`). Both pages talk to the same JSON
//! API and SSE streams as any client.
//!
//! Every file is served with its content type, `Cache-Control: no-cache` (names are not
//! versioned, so a browser revalidates rather than keep an old copy) and [`CSP`]: no inline
//! script or style, no other origin, and no framing by any page (with `X-Frame-Options` for
//! browsers that predate `frame-ancestors`), so the pages cannot be clickjacked.

use crate::actors::Error;
use include_dir::{include_dir, Dir};
use warp::http::{header, HeaderValue};
use warp::{Filter, Rejection, Reply};

/// `web/`, compiled in.
static WEB: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/web");

/// What the pages may load: their own origin's files, API and streams, nothing else.
pub const CSP: &str =
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn routes() -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let storefront = warp::path::end()
        .and(super::get())
        .and_then(|| served("index.html"));
    let console = warp::path!("console")
        .and(super::get())
        .and_then(|| served("console.html"));
    let favicon = warp::path!("favicon.ico")
        .and(super::get())
        .and_then(|| served("favicon.ico"));
    // The pages themselves only by their own paths.
    let assets =
        warp::path!("web" / String)
            .and(super::get())
            .and_then(|name: String| async move {
                match name.rsplit('.').next() {
                    Some("js" | "css") => served(&name).await,
                    _ => Err(Error::NotFound("file").into()),
                }
            });
    storefront
        .or(console)
        .unify()
        .or(favicon)
        .unify()
        .or(assets)
        .unify()
}

/// The file `name` of `web/` (no subdirectories), or 404.
async fn served(name: &str) -> Result<warp::reply::Response, Rejection> {
    let file = WEB
        .get_file(name)
        .filter(|_| !name.contains('/'))
        .ok_or(Error::NotFound("file"))?;
    let kind = match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("ico") => "image/x-icon",
        _ => return Err(Error::NotFound("file").into()),
    };
    let mut reply = warp::reply::Response::new(file.contents().into());
    let headers = reply.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(reply.into_response())
}
