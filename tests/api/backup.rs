//! Online backups: owner-only files, no writing through a symbolic link, no partial copy left
//! behind by a crash, and no admin session left behind by `trolley backup`.

use crate::helpers::*;
use reqwest::{Response, StatusCode};
use serde_json::json;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

async fn app_backing_up_into(dir: &Path) -> TestApp {
    let dir = dir.to_path_buf();
    spawn_app_with(move |c| c.backup_dir = Some(dir)).await
}

async fn backup(app: &TestApp, admin: &str, to: &Path) -> Response {
    app.post_json("/admin/backup", Some(admin), &json!({ "to": to }))
        .await
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `dir` and everything under it, with whether each is a directory and its permission bits.
fn modes(dir: &Path) -> Vec<(PathBuf, bool, u32)> {
    let meta = std::fs::symlink_metadata(dir).unwrap();
    let mut all = vec![(dir.to_path_buf(), true, meta.permissions().mode() & 0o777)];
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            all.extend(modes(&entry.path()));
        } else {
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            all.push((entry.path(), false, mode));
        }
    }
    all
}

#[tokio::test]
async fn a_backup_is_readable_and_writable_by_its_owner_only() {
    let backups = tempfile::tempdir().unwrap();
    let app = app_backing_up_into(backups.path()).await;
    let admin = app.admin_token().await;
    app.create_product(&admin, "Tea", 250, 5).await;
    let to = backups.path().join("snap");
    assert_eq!(backup(&app, &admin, &to).await.status(), StatusCode::OK);
    let modes = modes(&to);
    assert!(modes.iter().any(|(p, _, _)| p.ends_with("BACKUP.json")));
    assert!(modes.iter().any(|(p, _, _)| p.ends_with("db")));
    for (path, is_dir, mode) in modes {
        let wanted = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, wanted, "{} is {mode:o}", path.display());
    }
}

#[tokio::test]
async fn a_symbolic_link_as_the_target_is_refused_before_anything_is_copied() {
    let backups = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let app = app_backing_up_into(backups.path()).await;
    let admin = app.admin_token().await;
    let link = backups.path().join("link");
    symlink(elsewhere.path(), &link).unwrap();
    let dangling = backups.path().join("dangling");
    symlink(elsewhere.path().join("gone"), &dangling).unwrap();

    for to in [&link, &dangling] {
        let r = backup(&app, &admin, to).await;
        let error = assert_error(r, StatusCode::CONFLICT, "backup_refused").await;
        assert!(error["message"].as_str().unwrap().contains("symbolic link"));
    }
    assert!(
        names(elsewhere.path()).is_empty(),
        "written through the link"
    );
    assert_eq!(names(backups.path()), ["dangling", "link"]);
    // Nothing changed: the server still backs up.
    let to = backups.path().join("snap");
    assert_eq!(backup(&app, &admin, &to).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn partial_backups_left_by_a_crash_are_removed_at_start_and_at_the_next_backup() {
    let backups = tempfile::tempdir().unwrap();
    // What a backup interrupted by a crash leaves: its hidden partial directory, named as the
    // backup names it (`.{target}.partial-{pid}`).
    let leftover = |target: &str| {
        let partial = backups.path().join(format!(".{target}.partial-4242"));
        std::fs::create_dir(&partial).unwrap();
        std::fs::write(partial.join("db"), b"half a copy").unwrap();
        partial
    };
    let before_start = leftover("monday");
    let unrelated = backups.path().join(".notes");
    std::fs::create_dir(&unrelated).unwrap();
    let app = app_backing_up_into(backups.path()).await;
    assert!(!before_start.exists(), "left at start");

    let before_backup = leftover("tuesday");
    let admin = app.admin_token().await;
    let to = backups.path().join("wednesday");
    assert_eq!(backup(&app, &admin, &to).await.status(), StatusCode::OK);
    assert!(!before_backup.exists(), "left at the next backup");
    assert_eq!(names(backups.path()), [".notes", "wednesday"]);
}

#[tokio::test]
async fn trolley_backup_logs_out_after_use() {
    use trolley::domain::Session;
    use trolley::storage::keys;
    let backups = tempfile::tempdir().unwrap();
    let app = app_backing_up_into(backups.path()).await;
    let to = backups.path().join("snap");
    let done = trolley::remote::backup(&app.base, ADMIN, ADMIN_PASSWORD, &to)
        .await
        .unwrap();
    assert_eq!(done["path"], json!(to));
    let sessions = app.store().scan_prefix::<Session>(keys::SESSIONS).unwrap();
    assert!(sessions.is_empty(), "{} sessions left", sessions.len());
}
