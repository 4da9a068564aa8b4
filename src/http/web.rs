//! The browser front end: a storefront (`GET /`) and an operator console (`GET /console`),
//! plain HTML, JavaScript modules and CSS compiled into the binary from `web/` (no build step,
//! nothing from a CDN). Both pages talk to the same JSON API and SSE streams as any client.
//!
//! Every file is served with its content type, `Cache-Control: no-cache` (names are not
//! versioned, so a browser revalidates rather than keep an old copy), and a
//! `Content-Security-Policy` of `default-src 'self'`: no inline script or style, no other
//! origin.

use crate::actors::Error;
use warp::http::{header, HeaderValue};
use warp::{Filter, Rejection, Reply};

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// `(name under /web/, content type, body)` of every asset.
const ASSETS: &[(&str, &str, &str)] = &[
    ("style.css", CSS, include_str!("../../web/style.css")),
    ("api.js", JS, include_str!("../../web/api.js")),
    ("ui.js", JS, include_str!("../../web/ui.js")),
    ("auth.js", JS, include_str!("../../web/auth.js")),
    ("store.js", JS, include_str!("../../web/store.js")),
    ("products.js", JS, include_str!("../../web/products.js")),
    ("cart.js", JS, include_str!("../../web/cart.js")),
    ("cartview.js", JS, include_str!("../../web/cartview.js")),
    ("orders.js", JS, include_str!("../../web/orders.js")),
    ("console.js", JS, include_str!("../../web/console.js")),
    ("sse.js", JS, include_str!("../../web/sse.js")),
    ("feed.js", JS, include_str!("../../web/feed.js")),
    ("catalog.js", JS, include_str!("../../web/catalog.js")),
    ("chart.js", JS, include_str!("../../web/chart.js")),
    ("gauges.js", JS, include_str!("../../web/gauges.js")),
];

const STOREFRONT: &str = include_str!("../../web/index.html");
const CONSOLE: &str = include_str!("../../web/console.html");

pub fn routes() -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let storefront = warp::path::end()
        .and(warp::get())
        .map(|| file(HTML, STOREFRONT));
    let console = warp::path!("console")
        .and(warp::get())
        .map(|| file(HTML, CONSOLE));
    let assets = warp::path!("web" / String)
        .and(warp::get())
        .and_then(|name: String| async move {
            ASSETS
                .iter()
                .find(|(file, _, _)| *file == name)
                .map(|(_, kind, body)| file(kind, body))
                .ok_or_else(|| Rejection::from(Error::NotFound("file")))
        });
    storefront.or(console).unify().or(assets).unify()
}

fn file(kind: &'static str, body: &'static str) -> warp::reply::Response {
    let mut reply = warp::reply::Response::new(body.into());
    let headers = reply.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    reply.into_response()
}
