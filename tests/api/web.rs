//! The web front end's files: served from the binary with their content types, no caching
//! of stale copies, a Content-Security-Policy that allows only the own origin and no framing,
//! nothing from another origin, a favicon, and a metrics label of their own.

use crate::helpers::*;
use reqwest::StatusCode;

async fn fetch(app: &TestApp, path: &str) -> (String, String) {
    let r = app.get(path, None).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    let h = r.headers().clone();
    assert_eq!(
        h["content-security-policy"],
        trolley::http::web::CSP,
        "{path}"
    );
    assert!(
        trolley::http::web::CSP.contains("frame-ancestors 'none'"),
        "{path}"
    );
    assert_eq!(h["x-frame-options"], "DENY", "{path}");
    assert_eq!(h["cache-control"], "no-cache", "{path}");
    assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
    let kind = h["content-type"].to_str().unwrap().to_owned();
    (kind, r.text().await.unwrap())
}

/// The `/web/…` files a page or module refers to.
fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for quote in ['"', '\''] {
        for part in text.split(quote) {
            if let Some(name) = part.strip_prefix("/web/").or(part.strip_prefix("./")) {
                if name.ends_with(".js") || name.ends_with(".css") {
                    out.push(format!("/web/{name}"));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn both_pages_and_every_file_they_load_are_served_with_type_and_security_headers() {
    let app = spawn_app().await;
    let mut pending: Vec<String> = vec!["/".into(), "/console".into()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(path) = pending.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let (kind, text) = fetch(&app, &path).await;
        let expected = match path.rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            _ => "text/html; charset=utf-8",
        };
        assert_eq!(kind, expected, "{path}");
        // The SVG namespace is a name, not something loaded.
        let text = text.replace("http://www.w3.org/2000/svg", "");
        assert!(
            !text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"),
            "{path} refers to another origin"
        );
        if kind.starts_with("text/html") {
            assert!(
                text.contains(r#"<link rel="icon" href="/favicon.ico">"#),
                "{path}"
            );
        }
        pending.extend(references(&text));
    }
    // Both pages, a stylesheet and the modules of both pages.
    assert!(seen.len() > 10, "{seen:?}");
}

#[tokio::test]
async fn an_unknown_web_file_is_a_404_in_the_contracts_shape() {
    let app = spawn_app().await;
    let r = app.get("/web/nope.js", None).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app.get("/web/..%2Fsrc%2Flib.rs", None).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn the_favicon_is_the_checked_in_icon_with_the_pages_headers() {
    let app = spawn_app().await;
    let r = app.get("/favicon.ico", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/x-icon");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let icon = r.bytes().await.unwrap();
    assert_eq!(&icon[..], include_bytes!("../../web/favicon.ico"));
}

#[tokio::test]
async fn the_pages_and_their_files_are_not_served_under_other_names() {
    let app = spawn_app().await;
    for path in ["/web/index.html", "/web/console.html", "/web/favicon.ico"] {
        let r = app.get(path, None).await;
        assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn requests_for_web_files_are_counted_under_their_own_route() {
    let app = spawn_app().await;
    app.get("/web/style.css", None).await;
    app.get("/web/no-such.js", None).await;
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    for status in ["200", "404"] {
        let series = format!(
            r#"trolley_http_requests_total{{route="/web/{{file}}",method="GET",status="{status}"}}"#
        );
        assert!(metrics.contains(&series), "{series} in:\n{metrics}");
    }
}
