//! The README's curl walk-through, run as written against a fresh server, so the first thing a
//! new user pastes cannot silently go stale.

use crate::helpers::*;

/// The shell block after the `<!-- walk-through -->` marker.
fn walk_through() -> String {
    let readme = include_str!("../../README.md");
    let after = readme
        .split("<!-- walk-through -->")
        .nth(1)
        .expect("the README marks its walk-through");
    let block = after
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("a sh block follows the marker");
    block.to_owned()
}

#[tokio::test]
async fn the_readme_walk_through_works_as_pasted_on_a_fresh_server() {
    let app = spawn_app().await;
    let script = walk_through();
    let base = app.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .env("B", base)
            .output()
            .expect("bash runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the walk-through failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "one line per shown answer: {stdout}");
    assert!(lines[0].contains(r#""username":"alice""#));
    assert!(lines[1].contains(r#""quantity":3"#) && lines[1].contains(r#""reserved":true"#));
    assert!(lines[2].ends_with(r#""stock":7,"reserved":3}"#));
    assert!(lines[3].contains(r#""code":"insufficient_stock""#));
    assert!(lines[4].contains(r#""total_cents":750"#));
    assert!(lines[5].ends_with(r#""stock":7,"reserved":0}"#));
}
