//! CLI commands that ask a *running* server to do something (unlike [`crate::admin`], which
//! works on a stopped data dir): `trolley backup --to DIR` → `POST /admin/backup`.

use serde_json::{json, Value};
use std::path::Path;

/// Logs in as the admin and asks the server at `server` to back up into `to` (made absolute
/// here, since the server resolves nothing relative to the caller), then logs out, so no
/// admin session outlives the command. Returns the server's description of the backup.
pub async fn backup(server: &str, user: &str, password: &str, to: &Path) -> Result<Value, String> {
    let to = std::path::absolute(to).map_err(|e| format!("{}: {e}", to.display()))?;
    let http = reqwest::Client::new();
    let login = json!({ "username": user, "password": password });
    let token = call(&http, &format!("{server}/login"), None, &login).await?;
    let token = token["token"]
        .as_str()
        .ok_or("the login answer had no token")?;
    let body = json!({ "to": to.to_string_lossy() });
    let done = call(&http, &format!("{server}/admin/backup"), Some(token), &body).await;
    let url = format!("{server}/logout");
    match http.post(&url).bearer_auth(token).send().await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::warn!(status = %r.status(), "{url}: could not log out"),
        Err(e) => tracing::warn!(error = %e, "{url}: could not log out"),
    }
    done
}

/// POSTs `body`; a non-2xx answer becomes its error message.
async fn call(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &Value,
) -> Result<Value, String> {
    let mut req = http.post(url).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = r.status();
    let answer: Value = r.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        Ok(answer)
    } else {
        let message = answer["error"]["message"].as_str().unwrap_or("no details");
        Err(format!("{url} answered {status}: {message}"))
    }
}
