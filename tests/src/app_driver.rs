//! Driving the real tablet app (the Tauri binary) through WebDriver under Xvfb: `tauri-driver`
//! in front of Debian's `WebKitWebDriver`, plain W3C WebDriver JSON over blocking reqwest.
//! Shared by the end-to-end test (`app_webdriver`) and the app start benchmark.
//!
//! Nothing here skips: a missing Xvfb, tauri-driver or WebKitWebDriver is a panic that says
//! what to install.

use crate::proc::OwnedChild;
use crate::server::{try_spawn_server_process_on, ServerProcess};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().expect("local addr").port()
}

/// A tool from PATH or ~/.cargo/bin; panics with the install line when it is missing.
pub fn find_tool(name: &str, install: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed (looked in PATH and ~/.cargo/bin): {install} — `cargo xtask test` installs it"))
}

/// The app binary of this build profile (target/<profile>/gridwalk-app).
pub fn app_binary() -> PathBuf {
    crate::workspace_bin("gridwalk-app")
}

/// An X server of our own on a free display number, stopped when dropped.
#[derive(Debug)]
pub struct Display {
    _xvfb: OwnedChild,
    pub number: u32,
}

impl Display {
    pub fn var(&self) -> String {
        format!(":{}", self.number)
    }
}

/// Start Xvfb with a screen big enough for both tablet orientations.
pub fn start_xvfb() -> Display {
    let xvfb = find_tool("Xvfb", "apt-get install xvfb");
    for number in 90..400u32 {
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
        if socket.exists() || Path::new(&format!("/tmp/.X{number}-lock")).exists() {
            continue;
        }
        let mut cmd = Command::new(&xvfb);
        cmd.args([format!(":{number}").as_str(), "-screen", "0", "1600x1600x24", "-nolisten", "tcp", "-noreset"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut proc = OwnedChild::spawn(&mut cmd).expect("start Xvfb");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if socket.exists() {
                return Display { _xvfb: proc, number };
            }
            if proc.has_exited() {
                break; // lost a race for this number: try the next
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        proc.stop(); // SIGTERM first: Xvfb removes its lock file
    }
    panic!("could not start Xvfb on any display :90..:400");
}

/// tauri-driver on a free port, in front of WebKitWebDriver, on `display`. `env` reaches the
/// app (WebKitWebDriver starts it and passes its environment on). Dropping it stops the three
/// (they share tauri-driver's process group).
#[derive(Debug)]
pub struct Driver {
    _proc: OwnedChild,
    pub url: String,
}

pub fn start_tauri_driver(display: &Display, env: &[(&str, &str)]) -> Driver {
    let driver = find_tool("tauri-driver", "cargo install tauri-driver --locked");
    let native = find_tool("WebKitWebDriver", "apt-get install webkit2gtk-driver");
    let (port, native_port) = (free_port(), free_port());
    let mut cmd = Command::new(driver);
    cmd.args(["--port", &port.to_string(), "--native-port", &native_port.to_string(), "--native-driver"])
        .arg(native)
        .env("DISPLAY", display.var())
        .env_remove("WAYLAND_DISPLAY")
        // Software rendering: there is no GPU under Xvfb.
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let proc = OwnedChild::spawn(&mut cmd).expect("start tauri-driver");
    let url = format!("http://127.0.0.1:{port}");
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if http.get(format!("{url}/status")).send().map(|r| r.status().is_success()).unwrap_or(false) {
            break;
        }
        assert!(Instant::now() < deadline, "tauri-driver did not answer on {url} within 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    Driver { _proc: proc, url }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).build().expect("http client")
}

/// One WebDriver session: the app's window.
#[derive(Debug)]
pub struct Session {
    http: reqwest::blocking::Client,
    base: String,
}

impl Session {
    /// Start the app at `binary` under the driver.
    pub fn start(driver: &Driver, binary: &Path) -> Session {
        let http = client();
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "wry", "tauri:options": {"application": binary}}}});
        let resp: Value =
            http.post(format!("{}/session", driver.url)).json(&caps).send().expect("new session").json().expect("session json");
        let id = resp["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {resp}")).to_owned();
        Session { http, base: format!("{}/session/{id}", driver.url) }
    }

    fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().unwrap_or_else(|e| panic!("webdriver {path}: {e}"));
        let status = resp.status();
        let v: Value = resp.json().unwrap_or(Value::Null);
        assert!(status.is_success(), "webdriver {path} failed ({status}): {v}");
        v["value"].clone()
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.cmd(reqwest::Method::POST, path, Some(body))
    }

    fn get(&self, path: &str) -> Value {
        self.cmd(reqwest::Method::GET, path, None)
    }

    /// Run a script in the page (W3C execute/sync: `arguments` and `return`).
    pub fn exec(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
    }

    /// The element for a CSS selector, if the page has one now.
    pub fn find(&self, css: &str) -> Option<String> {
        let resp = self
            .http
            .post(format!("{}/element", self.base))
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .unwrap_or_else(|e| panic!("webdriver find {css}: {e}"));
        if !resp.status().is_success() {
            return None;
        }
        let v: Value = resp.json().ok()?;
        v["value"][ELEMENT].as_str().map(str::to_owned)
    }

    /// Wait for an element (up to `secs`); panics naming the selector and the current route.
    pub fn wait(&self, css: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(e) = self.find(css) {
                return e;
            }
            if Instant::now() > deadline {
                let url = self.exec("return location.href", json!([]));
                let body = self.exec("return document.body.innerText.slice(0, 600)", json!([]));
                panic!("waited {secs} s for {css} at {url}; the page says: {body}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until a script returns true.
    pub fn wait_until(&self, what: &str, script: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.exec(script, json!([])) != Value::Bool(true) {
            if Instant::now() > deadline {
                let body = self.exec("return document.body.innerText.slice(0, 600)", json!([]));
                panic!("waited {secs} s for {what}; the page says: {body}");
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Click like a finger: scrolled into view, and retried while something (a toast, a
    /// closing popup) still covers it.
    pub fn click(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let e = self.wait(css, 30);
            // Scroll it into view first: WebDriver refuses to click what is off screen.
            self.exec("arguments[0].scrollIntoView({block: 'center'})", json!([{ELEMENT: e}]));
            let resp = self
                .http
                .post(format!("{}/element/{e}/click", self.base))
                .json(&json!({}))
                .send()
                .unwrap_or_else(|err| panic!("webdriver click {css}: {err}"));
            if resp.status().is_success() {
                return;
            }
            let v: Value = resp.json().unwrap_or(Value::Null);
            let error = v["value"]["error"].as_str().unwrap_or_default();
            let retry = matches!(error, "element click intercepted" | "stale element reference" | "element not interactable");
            assert!(retry && Instant::now() < deadline, "click on {css} failed: {v}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Type into the input or textarea inside (or at) `css`.
    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.wait(&format!("{css} input, {css} textarea, input{css}, textarea{css}"), 30);
        self.exec("arguments[0].scrollIntoView({block: 'center'})", json!([{ELEMENT: e}]));
        self.post(&format!("/element/{e}/value"), json!({"text": text}));
    }

    pub fn text(&self, css: &str) -> String {
        let e = self.wait(css, 30);
        self.get(&format!("/element/{e}/text")).as_str().unwrap_or_default().to_owned()
    }

    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        let e = self.wait(css, 30);
        self.get(&format!("/element/{e}/attribute/{name}")).as_str().map(str::to_owned)
    }

    /// Go to a route of the app (hash history).
    pub fn route(&self, path: &str) {
        self.exec("location.hash = arguments[0]", json!([format!("#{path}")]));
    }

    pub fn set_size(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({"x": 0, "y": 0, "width": width, "height": height}));
        self.wait_until(
            &format!("a {width}×{height} viewport"),
            &format!("return Math.abs(window.innerWidth - {width}) < 40 && Math.abs(window.innerHeight - {height}) < 80"),
            10,
        );
    }

    /// Save a PNG of the window after two animation frames (layout and paint settled).
    pub fn screenshot(&self, path: &Path) {
        let _ = self.http.post(format!("{}/execute/async", self.base)).json(&json!({
            "script": "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)))",
            "args": []
        })).send();
        let b64 = self.get("/screenshot");
        let bytes = base64_decode(b64.as_str().expect("screenshot is base64"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, bytes).expect("write screenshot");
    }

    pub fn quit(self) {
        let _ = self.http.delete(&self.base).send();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    fn val(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some((c - b'A') as u32),
            b'a'..=b'z' => Some((c - b'a' + 26) as u32),
            b'0'..=b'9' => Some((c - b'0' + 52) as u32),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Run the server's CLI with `stdin` (a password never goes on the command line); it must
/// succeed.
fn run_cli(bin: &Path, args: &[&str], stdin: &str) {
    use std::io::Write;
    let mut child = Command::new(bin)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run gridwalk-server");
    child.stdin.take().expect("stdin is piped").write_all(format!("{stdin}\n").as_bytes()).expect("write the password");
    let out = child.wait_with_output().expect("gridwalk-server ends");
    assert!(out.status.success(), "gridwalk-server {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A real `gridwalk-server` process on a data dir, restartable on the same port.
#[derive(Debug)]
pub struct Server {
    pub data: PathBuf,
    pub url: String,
    pub port: u16,
    proc: Option<ServerProcess>,
}

impl Server {
    /// `registry demo` and one grid worker of 小关街道 (CY10) with `username` / `password`.
    pub fn setup(data: &Path, username: &str, name: &str, password: &str) -> Server {
        let bin = crate::workspace_bin("gridwalk-server");
        let dir = data.to_str().expect("utf-8 path");
        run_cli(&bin, &["registry", "demo", "--data", dir], "");
        run_cli(
            &bin,
            &[
                "worker",
                "add",
                "--data",
                dir,
                "--username",
                username,
                "--name",
                name,
                "--role",
                "grid_worker",
                "--scope",
                "subdistrict:CY10",
                "--password-stdin",
            ],
            password,
        );
        let mut s = Server { data: data.to_owned(), url: String::new(), port: 0, proc: None };
        s.start("127.0.0.1:0");
        s
    }

    fn start(&mut self, listen: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match try_spawn_server_process_on(&self.data, listen) {
                Ok(server) => {
                    self.url = server.base_url.clone();
                    self.port = server.addr().port();
                    self.proc = Some(server);
                    return;
                }
                // The old socket may linger for a moment after a kill: try again.
                Err(line) => assert!(Instant::now() < deadline, "gridwalk-server did not start on {listen}: {line:?}"),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// kill -9 the server, as a network outage looks to the app.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// Start again on the same port, as after a network outage.
    pub fn restart(&mut self) {
        self.stop();
        let listen = format!("127.0.0.1:{}", self.port);
        self.start(&listen);
    }

    /// Add a worker through the CLI (the server may be running: it reads workers at login).
    pub fn add_worker(&self, username: &str, name: &str, role: &str, scope: &str, password: &str) {
        let bin = crate::workspace_bin("gridwalk-server");
        let dir = self.data.to_str().expect("utf-8 path");
        let args =
            ["worker", "add", "--data", dir, "--username", username, "--name", name, "--role", role, "--scope", scope, "--password-stdin"];
        run_cli(&bin, &args, password);
    }

    /// POST JSON to an API path with a fresh token for `username`.
    pub fn post_as(&self, username: &str, password: &str, path: &str, body: &Value) -> Value {
        let http = client();
        let token = self.login(&http, username, password);
        let resp = http.post(format!("{}{path}", self.url)).bearer_auth(token).json(body).send().expect("POST");
        let status = resp.status();
        let v: Value = resp.json().unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path}: {status} {v}");
        v
    }

    fn login(&self, http: &reqwest::blocking::Client, username: &str, password: &str) -> String {
        let login: Value = http
            .post(format!("{}/api/v1/auth/login", self.url))
            .json(&json!({"username": username, "password": password, "device_name": "e2e check"}))
            .send()
            .expect("login")
            .json()
            .expect("login json");
        login["token"].as_str().unwrap_or_else(|| panic!("no token: {login}")).to_owned()
    }

    /// GET an API path with a fresh token for `username`.
    pub fn get_as(&self, username: &str, password: &str, path: &str) -> Value {
        let http = client();
        let login: Value = http
            .post(format!("{}/api/v1/auth/login", self.url))
            .json(&json!({"username": username, "password": password, "device_name": "e2e check"}))
            .send()
            .expect("login")
            .json()
            .expect("login json");
        let token = login["token"].as_str().unwrap_or_else(|| panic!("no token: {login}"));
        let resp = http.get(format!("{}{path}", self.url)).bearer_auth(token).send().expect("GET");
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().expect("json")
    }
}
