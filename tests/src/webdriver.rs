//! One blocking WebDriver session over [fantoccini], shared by the tablet app's tests (through
//! tauri-driver, [`Session::tauri`] in `app_driver`) and the web console's tests (headless
//! Chromium through chromedriver, [`Session::chromium`] in `browser`).
//!
//! fantoccini is async; the tests are plain `#[test]`s that read top to bottom. So each
//! session owns a current-thread tokio runtime and every call is a `block_on` on it. fantoccini
//! spawns its connection task onto that runtime, which runs only inside those calls: enough,
//! since nothing happens between two commands. A Session must therefore not be used from
//! inside another tokio runtime (block_on would panic); a test that serves pages runs its
//! server on a runtime of its own.
//!
//! fantoccini has no request timeout, so every command here gets one ([`COMMAND_TIMEOUT`]): a
//! driver that hangs fails the test instead of stalling the run.

use fantoccini::elements::{Element, ElementRef};
use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The longest any one WebDriver command may take (the app's first page load is the slowest).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// The W3C key of an element reference in a script's result.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// What the session drives; the browser's kind owns its temp dirs, removed after the session.
#[derive(Debug)]
pub(crate) enum Target {
    /// The tablet app's window (tauri-driver → WebKitWebDriver).
    Tauri,
    /// Headless Chromium with a fresh profile and a download directory of its own.
    Chromium { downloads: tempfile::TempDir, _profile: tempfile::TempDir },
}

/// One WebDriver session: the app's window or a Chromium tab. Dropping it (or [`Session::quit`])
/// ends the session; the driver process is stopped by its own guard.
#[derive(Debug)]
pub struct Session {
    rt: tokio::runtime::Runtime,
    /// `None` once quit.
    client: Option<Client>,
    target: Target,
    /// Downloads already handed out by [`Session::wait_for_download`].
    seen_downloads: RefCell<HashSet<PathBuf>>,
}

impl Session {
    /// Open a session on the driver at `url` with `capabilities` (the `alwaysMatch` object).
    /// `explain` is added to a failure: what to check or install.
    pub(crate) fn connect(url: &str, capabilities: Map<String, Value>, target: Target, explain: &dyn Fn() -> String) -> Session {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime for the WebDriver session");
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = rt
            .block_on(async {
                tokio::time::timeout(COMMAND_TIMEOUT, ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(url)).await
            })
            .unwrap_or_else(|_| {
                panic!("the WebDriver at {url} did not open a session within {} s; {}", COMMAND_TIMEOUT.as_secs(), explain())
            })
            .unwrap_or_else(|e| {
                panic!("the WebDriver at {url} refused a session ({e}) for {}; {}", Value::Object(capabilities), explain())
            });
        Session { rt, client: Some(client), target, seen_downloads: RefCell::default() }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the session was quit")
    }

    /// Run one command to its end on the session's runtime, or panic after [`COMMAND_TIMEOUT`].
    fn run<T>(&self, what: &str, fut: impl Future<Output = Result<T, CmdError>>) -> Result<T, CmdError> {
        self.rt
            .block_on(async { tokio::time::timeout(COMMAND_TIMEOUT, fut).await })
            .unwrap_or_else(|_| panic!("webdriver {what}: no answer within {} s", COMMAND_TIMEOUT.as_secs()))
    }

    /// Like [`Session::run`], for commands that must succeed.
    fn must<T>(&self, what: &str, fut: impl Future<Output = Result<T, CmdError>>) -> T {
        self.run(what, fut).unwrap_or_else(|e| panic!("webdriver {what} failed: {e}"))
    }

    fn element_arg(e: &Element) -> Value {
        json!({ ELEMENT: String::from(e.element_id()) })
    }

    /// Run a script in the page (W3C execute/sync: `arguments` and `return`); `args` is a JSON
    /// array.
    pub fn exec(&self, script: &str, args: Value) -> Value {
        let args = match args {
            Value::Array(a) => a,
            Value::Null => Vec::new(),
            other => panic!("exec takes its arguments as a JSON array, not {other}"),
        };
        self.must(&format!("execute `{}`", short(script)), self.client().execute(script, args))
    }

    /// The page's first 600 characters of text, for failure messages.
    fn page_text(&self) -> String {
        match self.run("read the page", self.client().execute("return document.body ? document.body.innerText.slice(0, 600) : ''", vec![]))
        {
            Ok(v) => v.as_str().unwrap_or_default().to_owned(),
            Err(e) => format!("(could not read the page: {e})"),
        }
    }

    /// The element for a CSS selector, if the page has one now. Any refusal but a bad selector
    /// counts as "not yet": a page that is still loading may answer with other errors.
    pub fn find(&self, css: &str) -> Option<Element> {
        match self.run(&format!("find {css}"), self.client().find(Locator::Css(css))) {
            Ok(e) => Some(e),
            Err(e) if e.is_invalid_selector() => panic!("{css} is not a valid CSS selector: {e}"),
            Err(_) => None,
        }
    }

    /// Wait for an element (up to `secs`); panics naming the selector and the current page.
    pub fn wait(&self, css: &str, secs: u64) -> Element {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(e) = self.find(css) {
                return e;
            }
            if Instant::now() > deadline {
                let url = self.exec("return location.href", json!([]));
                panic!("waited {secs} s for {css} at {url}; the page says: {}", self.page_text());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until a script returns true.
    pub fn wait_until(&self, what: &str, script: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.exec(script, json!([])) != Value::Bool(true) {
            if Instant::now() > deadline {
                panic!("waited {secs} s for {what}; the page says: {}", self.page_text());
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Scroll an element into the middle of the view: WebDriver refuses to click what is off
    /// screen.
    fn scroll_to(&self, e: &Element) {
        self.exec("arguments[0].scrollIntoView({block: 'center'})", json!([Self::element_arg(e)]));
    }

    /// Click what `pick` finds, like a finger: scrolled into view, and retried (found afresh)
    /// while something (a toast, a closing popup) still covers it or the page replaced it.
    fn click_found(&self, what: &str, pick: &dyn Fn() -> Element) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let e = pick();
            self.scroll_to(&e);
            match self.run(&format!("click {what}"), e.click()) {
                Ok(()) => return,
                Err(err) => {
                    let intercepted = matches!(&err, CmdError::Standard(w) if w.error == ErrorStatus::ElementClickIntercepted);
                    let retry = intercepted || err.is_stale_element_reference() || err.is_element_not_interactable();
                    assert!(retry && Instant::now() < deadline, "click on {what} failed: {err}");
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Click the first element matching `css` (waited for up to 30 s).
    pub fn click(&self, css: &str) {
        self.click_found(css, &|| self.wait(css, 30));
    }

    /// Type into the input or textarea inside (or at) `css`.
    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.wait(&format!("{css} input, {css} textarea, input{css}, textarea{css}"), 30);
        self.scroll_to(&e);
        self.must(&format!("type into {css}"), e.send_keys(text));
    }

    /// The rendered text of the first element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let e = self.wait(css, 30);
        self.must(&format!("text of {css}"), e.text())
    }

    /// The rendered text of every element matching `css` now, in document order (none: empty).
    pub fn text_of_all(&self, css: &str) -> Vec<String> {
        // A list re-rendered between the find and the reads leaves stale references: read again.
        for _ in 0..10 {
            let all = self.must(&format!("find all {css}"), self.client().find_all(Locator::Css(css)));
            let texts: Result<Vec<String>, CmdError> = all.iter().map(|e| self.run(&format!("text of {css}"), e.text())).collect();
            match texts {
                Ok(t) => return t,
                Err(e) if e.is_stale_element_reference() => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => panic!("webdriver text of {css} failed: {e}"),
            }
        }
        panic!("{css} kept being replaced while its texts were read");
    }

    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        let e = self.wait(css, 30);
        self.must(&format!("attribute {name} of {css}"), e.attr(name))
    }

    /// Pick an option of an Element Plus select: click the select (`select_css`), wait for the
    /// option (`option_css`) in its popper, click it. Element Plus teleports every select's
    /// dropdown to the end of <body> and keeps closed ones in the DOM, hidden, so the option is
    /// the first *visible* match, not the first match.
    pub fn select_option(&self, select_css: &str, option_css: &str) {
        self.click(select_css);
        let what = format!("{option_css} (opened from {select_css})");
        self.click_found(&what, &|| self.wait_visible(option_css, 15));
    }

    /// The first element matching `css` that is rendered (has a box), waited for up to `secs`.
    pub fn wait_visible(&self, css: &str, secs: u64) -> Element {
        let script = "return [...document.querySelectorAll(arguments[0])].find(e => e.getClientRects().length > 0 \
                      && getComputedStyle(e).visibility !== 'hidden') || null";
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(id) = self.exec(script, json!([css]))[ELEMENT].as_str() {
                return Element::from_element_id(self.client().clone(), ElementRef::from(id.to_owned()));
            }
            if Instant::now() > deadline {
                panic!("waited {secs} s for a visible {css}; the page says: {}", self.page_text());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Go to a route of the app (hash history).
    pub fn route(&self, path: &str) {
        self.exec("location.hash = arguments[0]", json!([format!("#{path}")]));
    }

    /// Load `url` and wait for it (the session's page load strategy is "normal").
    pub fn goto(&self, url: &str) {
        self.must(&format!("go to {url}"), self.client().goto(url));
    }

    pub fn current_url(&self) -> String {
        self.must("current url", self.client().current_url()).to_string()
    }

    /// Resize the window. The app's window takes `width`×`height` as its outer size, which is
    /// near enough for its screenshots; in Chromium the viewport (what a screenshot holds) is
    /// made exactly `width`×`height`, so console screenshots have the size they are named for.
    pub fn set_size(&self, width: u32, height: u32) {
        self.must("set window rect", self.client().set_window_rect(0, 0, width, height));
        if let Target::Chromium { .. } = self.target {
            let inner = self.exec("return [window.innerWidth, window.innerHeight]", json!([]));
            let (iw, ih) = (inner[0].as_u64().unwrap_or(0) as u32, inner[1].as_u64().unwrap_or(0) as u32);
            if (iw, ih) != (width, height) {
                // Grow the window by what its frame takes from the viewport.
                let (w, h) = (width + width.saturating_sub(iw), height + height.saturating_sub(ih));
                self.must("set window rect", self.client().set_window_rect(0, 0, w, h));
            }
            self.wait_until(
                &format!("a {width}×{height} viewport"),
                &format!("return window.innerWidth === {width} && window.innerHeight === {height}"),
                10,
            );
            return;
        }
        self.wait_until(
            &format!("a {width}×{height} viewport"),
            &format!("return Math.abs(window.innerWidth - {width}) < 40 && Math.abs(window.innerHeight - {height}) < 80"),
            10,
        );
    }

    /// Save a PNG of the window after two animation frames (layout and paint settled).
    pub fn screenshot(&self, path: &Path) {
        let settle = "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)))";
        // Best effort: a page that never paints still gets its screenshot attempted.
        let _ = self.run("wait for two frames", self.client().execute_async(settle, vec![]));
        let png = self.must("screenshot", self.client().screenshot());
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "the WebDriver screenshot is a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Where this browser saves downloads (its own temp dir, removed with the session).
    pub fn download_dir(&self) -> &Path {
        match &self.target {
            Target::Chromium { downloads, .. } => downloads.path(),
            Target::Tauri => panic!("the app's session has no download directory (only Session::chromium has one)"),
        }
    }

    /// Wait (up to `secs`) for a finished download ending in `.ext` that this method has not
    /// returned before, and return its path. Finished: Chromium writes into a `.crdownload`
    /// file and renames it when done, so the file counts only once no `.crdownload` is left and
    /// its size held still between two looks.
    pub fn wait_for_download(&self, ext: &str, secs: u64) -> PathBuf {
        let ext = ext.trim_start_matches('.');
        let dir = self.download_dir().to_owned();
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut last: Option<(PathBuf, u64)> = None;
        loop {
            let names = list_dir(&dir);
            let partial = names.iter().any(|p| p.extension().is_some_and(|e| e == "crdownload"));
            let seen = self.seen_downloads.borrow();
            let candidate = names.into_iter().find(|p| p.extension().is_some_and(|e| e == ext) && !seen.contains(p));
            drop(seen);
            if let (false, Some(path)) = (partial, candidate) {
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                if last.as_ref() == Some(&(path.clone(), size)) {
                    self.seen_downloads.borrow_mut().insert(path.clone());
                    return path;
                }
                last = Some((path, size));
            } else {
                last = None;
            }
            if Instant::now() > deadline {
                panic!("no finished .{ext} download in {} within {secs} s; it holds {:?}", dir.display(), list_dir(&dir));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// End the session (the app or the browser closes).
    pub fn quit(mut self) {
        self.close();
    }

    fn close(&mut self) {
        if let Some(client) = self.client.take() {
            // Best effort: the driver's guard stops whatever a failed close leaves.
            let _ = self.rt.block_on(async { tokio::time::timeout(Duration::from_secs(20), client.close()).await });
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Also on a failing test: without it, the browser lives until the driver is stopped,
        // still writing into the profile that is about to be removed.
        self.close();
    }
}

fn list_dir(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())).filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    v
}

fn short(script: &str) -> String {
    let one_line = script.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}
