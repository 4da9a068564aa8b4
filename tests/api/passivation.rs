use crate::helpers::*;
use reqwest::StatusCode;
use std::sync::Arc;
use std::time::Duration;

async fn live_carts(app: &TestApp) -> u64 {
    let r = json_of(app.get("/readyz", None).await).await;
    r["live_actors"]["carts"].as_u64().unwrap()
}

#[tokio::test]
async fn idle_actors_stop_and_come_back_with_their_state() {
    let app = spawn_app_with(|c| c.idle_timeout = Duration::from_millis(200)).await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 100).await;
    let (_, token) = app.signup("nadia").await;
    let mut carts = Vec::new();
    for i in 0..20 {
        let cart = app.create_cart(&token).await;
        app.add(&token, cart, tea, 1 + i % 3).await;
        carts.push(cart);
    }
    let before: Vec<_> = {
        let mut v = Vec::new();
        for &c in &carts {
            v.push(app.cart(&token, c).await);
        }
        v
    };
    // (Whether any is still live at this point depends on the machine's speed; that they all
    // come back unchanged after all have passivated is the point.)
    eventually(PATIENCE, "carts to passivate", || async {
        (live_carts(&app).await == 0).then_some(())
    })
    .await;
    for (c, expected) in carts.iter().zip(&before) {
        assert_eq!(&app.cart(&token, *c).await, expected);
    }
    assert_eq!(
        stock_of(&app, tea).await.1,
        before
            .iter()
            .map(|c| c["items"][0]["quantity"].as_u64().unwrap())
            .sum::<u64>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_racing_with_passivation_are_all_served() {
    // Actors are passivated constantly while clients keep using them.
    let app = Arc::new(spawn_app_with(|c| c.idle_timeout = Duration::from_millis(1)).await);
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10_000).await;
    let (_, token) = app.signup("oskar").await;
    let mut carts = Vec::new();
    for _ in 0..4 {
        carts.push(app.create_cart(&token).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let (app, token, cart) = (app.clone(), token.clone(), carts[i % carts.len()]);
        tasks.spawn(async move {
            // Spread the requests over time so some find their actor passivated.
            if i % 3 == 0 {
                tokio::time::sleep(Duration::from_millis((i % 7) as u64)).await;
            }
            app.add(&token, cart, tea, 1).await.status()
        });
    }
    while let Some(s) = tasks.join_next().await {
        assert_eq!(s.unwrap(), StatusCode::OK);
    }
    assert_eq!(stock_of(&app, tea).await, (9_800, 200));
    let mut total = 0;
    for &c in &carts {
        total += app.cart(&token, c).await["items"][0]["quantity"]
            .as_u64()
            .unwrap();
    }
    assert_eq!(total, 200);
}

#[tokio::test]
async fn an_actor_slow_to_stop_is_never_joined_by_a_second_one_for_its_id() {
    let app = spawn_app_with(|c| {
        c.idle_timeout = Duration::from_millis(50);
        c.call_timeout = Duration::from_secs(1);
    })
    .await;
    let (_, token) = app.signup("petra").await;
    let cart = app.create_cart(&token).await;
    // The cart's actor gets stuck, then is passivated: it cannot finish stopping.
    let (release, stalled) = tokio::sync::oneshot::channel();
    let actor = app.actors().carts.stall(cart, stalled).await.unwrap();
    let stuck = actor.get_id();
    eventually(PATIENCE, "the stuck actor to be unlisted", || async {
        let listed = app.actors().carts.live_actor_id(cart);
        (listed != Some(stuck)).then_some(())
    })
    .await;

    // Requests for the cart wait for the predecessor, give up (503) and keep giving up while
    // it runs: never a successor beside it.
    for _ in 0..3 {
        let r = app.get(&format!("/carts/{cart}"), Some(&token)).await;
        assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
        assert_eq!(live_carts(&app).await, 1, "one actor for the cart");
    }

    release.send(()).unwrap();
    eventually(PATIENCE, "the cart to be served again", || async {
        let r = app.get(&format!("/carts/{cart}"), Some(&token)).await;
        (r.status() == StatusCode::OK).then_some(())
    })
    .await;
}
