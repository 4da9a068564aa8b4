use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn registering_returns_201_with_the_new_id_and_username() {
    let app = spawn_app().await;
    let r = app.register("alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body = json_of(r).await;
    assert_eq!(body["username"], "alice");
    assert!(body["id"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_taken_username_is_409_whatever_its_case() {
    let app = spawn_app().await;
    app.register("alice", PASSWORD).await;
    let again = app.register("alice", "another-password").await;
    assert_error(again, StatusCode::CONFLICT, "username_taken").await;
    let upper = app.register("ALICE", PASSWORD).await;
    assert_error(upper, StatusCode::CONFLICT, "username_taken").await;
    // The first registration's password still works.
    app.token_of("alice", PASSWORD).await;
}

#[tokio::test]
async fn invalid_usernames_and_passwords_are_400_and_create_nothing() {
    let app = spawn_app().await;
    let cases = [
        ("ab", PASSWORD, "username"),
        (&"x".repeat(33), PASSWORD, "username"),
        ("bad name", PASSWORD, "username"),
        ("carol", "short", "password"),
        ("carol", &"p".repeat(129), "password"),
    ];
    for (username, password, field) in cases {
        let r = app.register(username, password).await;
        let err = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(err["field"], field, "{username}/{password}");
    }
    assert_error(
        app.login("carol", "short").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn wrong_types_missing_fields_and_malformed_json_are_400() {
    let app = spawn_app().await;
    let bodies = [
        json!({ "username": 5, "password": PASSWORD }),
        json!({ "username": "dave" }),
        json!({ "username": "dave", "password": PASSWORD, "admin": true }),
        json!([1, 2]),
    ];
    for body in bodies {
        let r = app.post_json("/register", None, &body).await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    for raw in ["{", "", "{\"username\": \"dave\", \"password\": }", "\u{0}"] {
        let r = app
            .post_raw("/register", None, "application/json", raw.to_owned())
            .await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let bytes = app
        .post_raw(
            "/register",
            None,
            "application/json",
            vec![0xff, 0xfe, b'{'],
        )
        .await;
    assert_error(bytes, StatusCode::BAD_REQUEST, "invalid_request").await;
    // None of it registered anyone.
    assert_eq!(
        app.register("dave", PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_and_a_non_json_body_is_415() {
    let app = spawn_app().await;
    let huge = format!(
        "{{\"username\":\"erin\",\"password\":\"{}\"}}",
        "p".repeat(64 * 1024)
    );
    let r = app
        .post_raw("/register", None, "application/json", huge)
        .await;
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let form = app
        .post_raw(
            "/register",
            None,
            "application/x-www-form-urlencoded",
            "username=erin",
        )
        .await;
    assert_error(
        form,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    // The server is still serving, and nothing was created.
    assert_eq!(
        app.register("erin", PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn login_returns_a_token_with_an_expiry_that_works_for_me() {
    let app = spawn_app().await;
    app.register("frank", PASSWORD).await;
    let r = app.login("frank", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_of(r).await;
    let token = body["token"].as_str().unwrap();
    assert_eq!(token.len(), 64, "256 bits, hex");
    let expires = body["expires_at"].as_str().unwrap();
    assert!(expires.ends_with('Z') && expires.contains('T'), "{expires}");
    let me = json_of(app.get("/me", Some(token)).await).await;
    assert_eq!(me["username"], "frank");
    assert_eq!(me["id"], body["user_id"]);
    assert_eq!(me["is_admin"], false);
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_identical_401() {
    let app = spawn_app().await;
    app.register("grace", PASSWORD).await;
    let wrong = app.login("grace", "wrong-password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong = wrong.text().await.unwrap();
    let unknown = app.login("nobody", "wrong-password").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.text().await.unwrap(), wrong);
    assert!(wrong.contains("invalid_credentials"));
}

#[tokio::test]
async fn a_missing_malformed_or_unknown_token_is_401() {
    let app = spawn_app().await;
    assert_error(
        app.get("/me", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_error(
        app.get("/me", Some("not-a-token")).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let basic = app
        .client
        .get(app.url("/me"))
        .header("authorization", "Basic YTpi")
        .send()
        .await
        .unwrap();
    assert_error(basic, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn logout_revokes_only_that_token() {
    let app = spawn_app().await;
    let (_, token) = app.signup("heidi").await;
    let other = app.token_of("heidi", PASSWORD).await;
    let r = app
        .client
        .post(app.url("/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.get("/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(app.get("/me", Some(&other)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_admin_from_the_environment_exists_after_start() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let me = json_of(app.get("/me", Some(&token)).await).await;
    assert_eq!(me["username"], ADMIN);
    assert_eq!(me["is_admin"], true);
}

#[tokio::test]
async fn an_existing_user_becomes_admin_only_with_the_matching_password() {
    // First run: no admin configured; "root" registers as a normal user.
    let app = spawn_app_with(|c| {
        c.admin_username = None;
        c.admin_password = None;
    })
    .await;
    app.register("root", PASSWORD).await;
    let data = app.data_dir.path().to_path_buf();
    let addr = "127.0.0.1:0".parse().unwrap();
    app.app.unwrap().shutdown().await;

    let mut wrong = trolley::Config::new(addr, data.clone());
    wrong.admin_username = Some("root".into());
    wrong.admin_password = Some("not-the-password".into());
    assert!(trolley::App::start(wrong).await.is_err());

    let mut right = trolley::Config::new(addr, data);
    right.admin_username = Some("root".into());
    right.admin_password = Some(PASSWORD.into());
    let running = trolley::App::start(right).await.expect("starts");
    let client = reqwest::Client::new();
    let base = format!("http://{}", running.addr);
    let login = client
        .post(format!("{base}/login"))
        .json(&json!({ "username": "root", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let token = json_of(login).await["token"].as_str().unwrap().to_owned();
    let me = json_of(
        client
            .get(format!("{base}/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me["is_admin"], true);
    running.shutdown().await;
}

#[tokio::test]
async fn an_expired_token_is_401() {
    // A zero lifetime makes every token expired the moment it is issued.
    let app = spawn_app_with(|c| c.token_ttl = std::time::Duration::ZERO).await;
    app.register("ziggy", PASSWORD).await;
    let token = app.token_of("ziggy", PASSWORD).await;
    assert_error(
        app.get("/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn expired_sessions_are_purged_from_the_store_and_live_ones_kept() {
    use trolley::domain::Session;
    use trolley::storage::keys;
    let ttl = std::time::Duration::from_secs(3600);
    // A short hold TTL makes the reaper, which also purges sessions, sweep often.
    let app = spawn_app_with(|c| {
        c.token_ttl = ttl;
        c.hold_ttl = std::time::Duration::from_millis(200);
    })
    .await;
    let store = app.store();
    let sessions = || {
        store
            .scan_prefix::<Session>(keys::SESSIONS)
            .unwrap()
            .into_iter()
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
    };
    let (old_user, old) = app.signup("kim").await;
    app.advance_clock(ttl + std::time::Duration::from_secs(1));
    let (new_user, new) = app.signup("lou").await;
    let expired = |r: reqwest::Response| assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized");

    // Refused whether or not the purge has come by yet.
    expired(app.get("/me", Some(&old)).await).await;
    eventually(PATIENCE, "the expired session to be purged", || async {
        let left = sessions();
        (!left.iter().any(|s| s.user_id.0 == old_user)).then_some(left)
    })
    .await;
    expired(app.get("/me", Some(&old)).await).await;
    assert_eq!(
        sessions().iter().map(|s| s.user_id.0).collect::<Vec<_>>(),
        [new_user]
    );
    assert_eq!(app.get("/me", Some(&new)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled_with_retry_after() {
    let app = spawn_app().await;
    app.register("mallory", PASSWORD).await;
    for _ in 0..trolley::http::ratelimit::PER_USERNAME_AND_ADDRESS {
        let r = app.login("mallory", "wrong-password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app.login("mallory", "wrong-password").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // From this address even the right password waits for the window...
    let r = app.login("mallory", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // ...but the owner logging in from elsewhere is not locked out by someone else's guesses.
    let elsewhere = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let r = elsewhere
        .post(app.url("/login"))
        .json(&serde_json::json!({ "username": "mallory", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Other users are unaffected.
    app.signup("trent").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_concurrent_bad_logins_gets_only_the_limit_of_password_checks() {
    use trolley::http::ratelimit::PER_USERNAME_AND_ADDRESS;
    let app = std::sync::Arc::new(spawn_app().await);
    app.register("oscar", PASSWORD).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..300 {
        let app = app.clone();
        tasks.spawn(async move { app.login("oscar", "wrong-password").await.status() });
    }
    let mut statuses = std::collections::BTreeMap::new();
    while let Some(s) = tasks.join_next().await {
        *statuses.entry(s.unwrap().as_u16()).or_insert(0u32) += 1;
    }
    // Every 401 is one real password check; the rest were refused before any hashing.
    assert_eq!(
        statuses.get(&401).copied().unwrap_or(0),
        PER_USERNAME_AND_ADDRESS,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.get(&429).copied().unwrap_or(0),
        300 - PER_USERNAME_AND_ADDRESS,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_flood_of_headers_is_refused_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let mut req = app.client.get(app.url("/healthz"));
    for i in 0..500 {
        req = req.header(format!("x-flood-{i}"), "x".repeat(100));
    }
    // hyper may also close the connection outright, which is fine.
    if let Ok(r) = req.send().await {
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    let huge = app
        .client
        .get(app.url("/healthz"))
        .header("x-huge", "y".repeat(1 << 20))
        .send()
        .await;
    if let Ok(r) = huge {
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_non_ascii_authorization_header_is_a_plain_401_on_every_route() {
    let app = spawn_app().await;
    let header = reqwest::header::HeaderValue::from_bytes(b"Bearer \xc3\xa9\xff").unwrap();
    let routes = [
        (reqwest::Method::POST, "/products"),
        (reqwest::Method::GET, "/me"),
        (reqwest::Method::POST, "/carts"),
        (reqwest::Method::GET, "/events"),
        (reqwest::Method::GET, "/orders"),
    ];
    for (method, path) in routes {
        let r = app
            .client
            .request(method.clone(), app.url(path))
            .header("authorization", header.clone())
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}
