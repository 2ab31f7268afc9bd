//! Headless Chromium for the web console's tests: Debian's `chromedriver` on a free port (an
//! [`OwnedChild`], so it and the browsers it starts are stopped by pid), and a
//! [`Session::chromium`] with a fresh profile and a download directory of its own, driven
//! through the same blocking [`Session`] as the tablet app.
//!
//! Nothing here skips: a missing Chromium or chromedriver is a panic that says what to install.

use crate::app_driver::free_port;
use crate::proc::OwnedChild;
pub use crate::webdriver::Session;
use crate::webdriver::Target;
use serde_json::{json, Map};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's Chromium (package chromium). A wrapper script that execs the real binary, so the
/// browser stays the process chromedriver started.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver (package chromium-driver), built with the Chromium above: a driver
/// from elsewhere would refuse a browser of another major version.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

const INSTALL: &str = "apt-get install chromium chromium-driver (`cargo xtask test` installs them)";

fn require(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(p.is_file(), "{path} is missing: {INSTALL}");
    p
}

/// chromedriver on a free port of 127.0.0.1, stopped (with every Chromium it started) when
/// dropped.
#[derive(Debug)]
pub struct Chromedriver {
    _proc: OwnedChild,
    pub url: String,
    /// chromedriver's log (its own temp dir): a refused session quotes its end.
    log: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl Chromedriver {
    pub fn start() -> Chromedriver {
        require(CHROMIUM);
        let driver = require(CHROMEDRIVER);
        let log_dir = tempfile::tempdir().expect("chromedriver log dir");
        let log = log_dir.path().join("chromedriver.log");
        let port = free_port();
        let mut cmd = Command::new(driver);
        cmd.arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            // Its banner goes to stdout; what matters is in the log.
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let proc = OwnedChild::spawn(&mut cmd).expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().expect("http client");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http
                .get(format!("{url}/status"))
                .send()
                .ok()
                .and_then(|r| r.json::<serde_json::Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(!proc.has_exited(), "chromedriver exited at start: {}", tail(&log));
            assert!(Instant::now() < deadline, "chromedriver did not answer on {url} within 20 s: {}", tail(&log));
            std::thread::sleep(Duration::from_millis(100));
        }
        Chromedriver { _proc: proc, url, log, _log_dir: log_dir }
    }
}

/// The browser window a [`Session::chromium`] opens with.
#[derive(Debug, Clone, Copy)]
pub struct ChromiumOptions {
    pub width: u32,
    pub height: u32,
}

impl Default for ChromiumOptions {
    /// The console's smallest supported desktop.
    fn default() -> Self {
        ChromiumOptions { width: 1366, height: 768 }
    }
}

impl Session {
    /// A headless Chromium with a fresh profile, its viewport `width`×`height`, and downloads
    /// saved without asking into [`Session::download_dir`].
    pub fn chromium(driver: &Chromedriver, options: ChromiumOptions) -> Session {
        let profile = tempfile::tempdir().expect("chromium profile dir");
        let downloads = tempfile::tempdir().expect("chromium download dir");
        let ChromiumOptions { width, height } = options;
        let args = [
            // The new headless mode is the real browser without a window (the old one was a
            // separate, different implementation), and it downloads like the real one.
            "--headless=new".to_owned(),
            // Tests run as root in containers, where Chromium's sandbox cannot start.
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            // A container's /dev/shm is often 64 MB: renderers crash on big pages.
            "--disable-dev-shm-usage".to_owned(),
            // Keep the browser off the network: only the test's 127.0.0.1 servers are spoken to.
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            // A fresh profile each session: no state from another test or an earlier run.
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={width},{height}"),
        ];
        let mut caps = Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": args,
                "prefs": {
                    "download.default_directory": downloads.path(),
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true,
                },
            }),
        );
        let log = driver.log.clone();
        let explain = || format!("is {CHROMIUM} the version of {CHROMEDRIVER} ({INSTALL})? chromedriver's log ends: {}", tail(&log));
        let session = Session::connect(&driver.url, caps, Target::Chromium { downloads, _profile: profile }, &explain);
        // --window-size is the window's outer size; make the viewport the size asked for.
        session.set_size(width, height);
        session
    }
}

/// The last lines of a log, for a failure message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
