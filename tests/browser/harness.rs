//! Real Chromium through chromedriver: one chromedriver per browser (its own free port, its own
//! temporary profile), so tests run in parallel without sharing anything. A failed test saves a
//! screenshot of every browser it opened into `target/browser-failures/`.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::PATIENCE;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether the browser tests can run here. Without chromium and chromedriver they are skipped
/// with one line, unless `CI` is set: there they must run, so missing them fails the test.
pub fn available(test: &str) -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: chromium and chromium-driver are required in CI (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipping {test}: chromium or chromedriver missing (apt-get install chromium chromium-driver)");
    }
    present
}

/// One browser: its chromedriver process, its WebDriver session and its profile directory.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A headless Chromium with a window of `width` × `height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().expect("temp profile");
        let (driver, port) = tokio::task::spawn_blocking(start_driver)
            .await
            .expect("chromedriver starts");
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={width},{height}"),
        ];
        let caps = json!({ "goog:chromeOptions": { "binary": CHROMIUM, "args": args } });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Saves what the browser shows as a PNG.
    pub async fn screenshot(&self, path: &Path) {
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")));
            let _ = std::fs::write(path, png);
        }
    }

    /// Ends the session (Chromium quits), then its chromedriver (on drop).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("page loads");
    }

    /// The text of the first element matching `css`, or `None` if there is none (yet).
    pub async fn text(&self, css: &str) -> Option<String> {
        let el = self.client.find(Locator::Css(css)).await.ok()?;
        el.text().await.ok()
    }

    /// An attribute of the first element matching `css`.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        let el = self.client.find(Locator::Css(css)).await.ok()?;
        el.attr(name).await.ok().flatten()
    }

    /// Whether an element matching `css` exists and is displayed.
    pub async fn shown(&self, css: &str) -> bool {
        match self.client.find(Locator::Css(css)).await {
            Ok(el) => el.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        }
    }

    /// Waits (bounded) for `css` to exist, then clicks it. The pages redraw lists when a
    /// stream frame or a re-read arrives, which can replace the element between the find and
    /// the click ("stale element reference"): then the new one is found and clicked.
    pub async fn click(&self, css: &str) {
        self.on_current(css, "click", |el| async move { el.click().await })
            .await;
    }

    /// Waits (bounded) for the input `css`, then replaces its value with `value` (on the
    /// current element, as [`Browser::click`] does).
    pub async fn fill(&self, css: &str, value: &str) {
        self.on_current(css, "type into", |el| async move {
            el.clear().await?;
            el.send_keys(value).await
        })
        .await;
    }

    /// Does `act` on the element `css` finds, finding it again while the page keeps
    /// replacing it; any other failure fails the test.
    async fn on_current<F, Fut>(&self, css: &str, what: &str, act: F)
    where
        F: Fn(fantoccini::elements::Element) -> Fut,
        Fut: std::future::Future<Output = Result<(), fantoccini::error::CmdError>>,
    {
        let redrawn = format!("{css} to stay on the page long enough to {what} it");
        crate::helpers::eventually(PATIENCE, &redrawn, || async {
            match act(self.wait_for(css).await).await {
                Ok(()) => Some(()),
                Err(e) if e.is_stale_element_reference() => None,
                Err(e) => panic!("{what} {css}: {e}"),
            }
        })
        .await
    }

    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .every(Duration::from_millis(50))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} within {PATIENCE:?}: {e}"))
    }

    /// Waits (bounded) until the text of `css` contains `want`; returns the text.
    pub async fn wait_text(&self, css: &str, want: &str) -> String {
        crate::helpers::eventually(PATIENCE, &format!("{css} to say {want:?}"), || async {
            self.text(css).await.filter(|t| t.contains(want))
        })
        .await
    }

    /// Waits (bounded) until the attribute `name` of `css` is `want`.
    pub async fn wait_attr(&self, css: &str, name: &str, want: &str) {
        let what = format!("{css} to have {name}={want:?}");
        crate::helpers::eventually(PATIENCE, &what, || async {
            (self.attr(css, name).await.as_deref() == Some(want)).then_some(())
        })
        .await
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Starts chromedriver on a port the OS picks and reads that port from its first lines.
fn start_driver() -> (Child, u16) {
    let mut child = Command::new(CHROMEDRIVER)
        .args(["--port=0", "--log-level=SEVERE"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs");
    let stdout = child.stdout.take().expect("chromedriver's stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads the port, then keeps draining the pipe so chromedriver never blocks on it.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(port) = line
                .split("started successfully on port ")
                .nth(1)
                .and_then(|p| p.trim_end_matches('.').trim().parse::<u16>().ok())
            {
                let _ = tx.send(port);
            }
        }
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(port) => (child, port),
        Err(_) => {
            let _ = child.kill();
            panic!("chromedriver did not say its port within {PATIENCE:?}");
        }
    }
}

/// The outcome of a browser test's body: a failure still to be reported.
pub type Outcome<T = ()> = Result<T, Box<dyn std::any::Any + Send>>;

/// Runs a browser test's body; if it fails, saves a screenshot of each browser. The test then
/// closes its browsers and calls [`finish`].
pub async fn attempt<T, F>(test: &str, browsers: &[&Browser], body: F) -> Outcome<T>
where
    F: std::future::Future<Output = T>,
{
    use futures_util::FutureExt;
    let outcome = std::panic::AssertUnwindSafe(body).catch_unwind().await;
    if outcome.is_err() {
        for (i, b) in browsers.iter().enumerate() {
            let path = failures_dir().join(format!("{test}-{i}.png"));
            b.screenshot(&path).await;
            eprintln!(
                "{test}: screenshot of browser {i} saved to {}",
                path.display()
            );
        }
    }
    outcome
}

/// Fails the test now if its body failed.
pub fn finish(outcome: Outcome) {
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn failures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-failures")
}

/// When `TROLLEY_DOC_SCREENSHOTS` is set, saves the browser's view as `docs/{name}` (the
/// README's screenshots are made this way).
pub async fn doc_screenshot(browser: &Browser, name: &str) {
    if std::env::var_os("TROLLEY_DOC_SCREENSHOTS").is_some() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs")
            .join(name);
        browser.screenshot(&path).await;
    }
}
