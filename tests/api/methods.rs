//! Methods against the route table (`trolley::http::ROUTES`): every GET route answers HEAD,
//! and every method a route does not answer is a 405 whose `Allow` lists the ones it does.

use crate::helpers::*;
use reqwest::{Method, Response, StatusCode};
use serde_json::json;
use trolley::http::ROUTES;

/// Ids of real resources, so that each route's handler runs rather than a 404.
struct Ids {
    product: u64,
    cart: u64,
    order: u64,
}

async fn resources(app: &TestApp, admin: &str) -> Ids {
    let product = app.create_product(admin, "Tea", 250, 50).await;
    let cart = app.create_cart(admin).await;
    app.add(admin, cart, product, 1).await;
    let ordered = app.create_cart(admin).await;
    app.add(admin, ordered, product, 1).await;
    let order = json_of(app.checkout(admin, ordered).await).await["id"]
        .as_u64()
        .unwrap();
    Ids {
        product,
        cart,
        order,
    }
}

/// A path of `template` naming the resources in `ids`.
fn concrete(template: &str, ids: &Ids) -> String {
    let (mut out, mut last) = (Vec::new(), "");
    for seg in template.split('/') {
        out.push(match (last, seg) {
            ("carts", "{id}") => ids.cart.to_string(),
            ("orders", "{id}") => ids.order.to_string(),
            (_, "{id}") => ids.product.to_string(),
            (_, "{file}") => "style.css".into(),
            _ => seg.to_owned(),
        });
        last = seg;
    }
    out.join("/")
}

async fn send(app: &TestApp, method: &str, path: &str, token: &str) -> Response {
    app.client
        .request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            app.url(path),
        )
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_get_route_answers_head_with_the_status_and_headers_of_get_and_no_body() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ids = resources(&app, &admin).await;
    for route in ROUTES.iter().filter(|r| r.methods.contains("GET")) {
        assert!(route.methods.contains("HEAD"), "{}", route.template);
        let path = concrete(route.template, &ids);
        let get = send(&app, "GET", &path, &admin).await;
        let head = send(&app, "HEAD", &path, &admin).await;
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        assert!(get.status().is_success(), "GET {path}: {}", get.status());
        for name in ["content-type", "content-security-policy", "x-frame-options"] {
            assert_eq!(
                head.headers().get(name),
                get.headers().get(name),
                "HEAD {path} {name}"
            );
        }
        // A stream's GET never ends.
        if !path.ends_with("/stream") {
            assert!(!get.bytes().await.unwrap().is_empty(), "GET {path}");
        }
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path}");
    }
}

#[tokio::test]
async fn every_405_names_exactly_the_methods_its_route_answers() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ids = resources(&app, &admin).await;
    for route in ROUTES {
        let path = concrete(route.template, &ids);
        let allowed: Vec<&str> = route.methods.split(", ").collect();
        for method in ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"] {
            // POST /logout ends the session the other requests use.
            if (method, route.template) == ("POST", "/logout") {
                continue;
            }
            let r = send(&app, method, &path, &admin).await;
            if allowed.contains(&method) {
                assert_ne!(
                    r.status(),
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path}"
                );
                continue;
            }
            assert_eq!(
                r.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_eq!(r.headers()["allow"], route.methods, "{method} {path}");
            if method != "HEAD" {
                assert_error(r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
            }
        }
    }
}
