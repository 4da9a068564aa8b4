//! The storefront and the operator console in a real, headless Chromium driven through
//! chromedriver (WebDriver), against the real app on port 0. Skipped with one line when
//! chromium or chromedriver is missing, except under `CI`, where that fails.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod console;
mod harness;
mod storefront;
