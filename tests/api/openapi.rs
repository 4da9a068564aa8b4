//! `docs/openapi.json` against the running server: it is what `/openapi.json` serves, it
//! documents exactly the routes the server has, each documented method is served and every
//! other method is refused, and its error codes are ones the server sends.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

fn doc() -> Value {
    serde_json::from_str(trolley::http::ops::OPENAPI).expect("docs/openapi.json is JSON")
}

/// `/carts/{id}/products/{product_id}` → `/carts/{id}/products/{id}`.
fn template(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{id}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn the_served_document_is_the_one_in_the_repo() {
    let app = spawn_app().await;
    let served = json_of(app.get("/openapi.json", None).await).await;
    assert_eq!(served, doc());
    assert_eq!(served["openapi"], "3.0.3");
}

#[test]
fn the_document_lists_exactly_the_routes_the_server_has() {
    let documented: BTreeSet<String> = doc()["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(|p| template(p))
        .collect();
    let served: BTreeSet<String> = trolley::http::ROUTES
        .iter()
        .map(|r| template(r.template))
        .collect();
    assert_eq!(documented, served);
}

/// The route table names the methods the document does (and HEAD beside every GET), so the
/// `Allow` of a 405, which comes from the table, says what the document says.
#[test]
fn the_route_table_lists_the_documented_methods_of_each_route() {
    let doc = doc();
    for route in trolley::http::ROUTES {
        let (path, ops) = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(p, _)| template(p) == template(route.template))
            .unwrap_or_else(|| panic!("{} is not documented", route.template));
        let mut documented: BTreeSet<String> = ops
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        if documented.contains("GET") {
            documented.insert("HEAD".into());
        }
        let listed: BTreeSet<String> = route.methods.split(", ").map(String::from).collect();
        assert_eq!(listed, documented, "{path}");
    }
}

#[test]
fn documented_error_codes_are_ones_the_server_sends() {
    // Every status the error mapping (http::error) and the handlers can produce.
    let sendable: BTreeSet<u16> = [
        200, 201, 204, 400, 401, 403, 404, 405, 409, 410, 411, 413, 415, 422, 429, 500, 503, 507,
    ]
    .into();
    for (path, ops) in doc()["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            for code in op["responses"].as_object().unwrap().keys() {
                let code: u16 = code.parse().unwrap();
                assert!(sendable.contains(&code), "{method} {path} documents {code}");
            }
        }
    }
}

#[tokio::test]
async fn documented_methods_are_served_and_others_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let product = app.create_product(&admin, "Tea", 250, 50).await;
    let cart = app.create_cart(&admin).await;
    app.add(&admin, cart, product, 1).await;
    let order_cart = app.create_cart(&admin).await;
    app.add(&admin, order_cart, product, 1).await;
    let order = json_of(app.checkout(&admin, order_cart).await).await["id"]
        .as_u64()
        .unwrap();

    for (path, ops) in doc()["paths"].as_object().unwrap() {
        if path.ends_with("/stream") {
            continue; // streams that do not end; covered by the events and product stream tests
        }
        let concrete = path
            .replace(
                "{id}/products/{product_id}",
                &format!("{cart}/products/{product}"),
            )
            .replace("/carts/{id}", &format!("/carts/{cart}"))
            .replace("/products/{id}", &format!("/products/{product}"))
            .replace("/orders/{id}", &format!("/orders/{order}"));
        for method in METHODS {
            let documented = ops.get(method.to_lowercase()).is_some();
            let r = app
                .client
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    app.url(&concrete),
                )
                .bearer_auth(&admin)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let unmatched = status == StatusCode::METHOD_NOT_ALLOWED
                || (status == StatusCode::NOT_FOUND
                    && body["error"]["message"] == "no such resource");
            if documented {
                assert!(
                    !unmatched,
                    "{method} {concrete} is documented but not served ({status})"
                );
                let code = status.as_u16().to_string();
                assert!(
                    ops[method.to_lowercase()]["responses"].get(&code).is_some(),
                    "{method} {concrete} answered {status}, which its documentation does not list: {body}"
                );
            } else {
                assert!(
                    unmatched,
                    "{method} {concrete} is served ({status}) but not documented"
                );
            }
        }
    }
}
