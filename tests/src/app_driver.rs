//! Driving the real tablet app (the Tauri binary) through WebDriver under Xvfb: `tauri-driver`
//! in front of Debian's `WebKitWebDriver`, through the blocking [`Session`] of
//! [`crate::webdriver`] (fantoccini underneath). Shared by the end-to-end test
//! (`app_webdriver`) and the app start benchmark.
//!
//! Nothing here skips: a missing Xvfb, tauri-driver or WebKitWebDriver is a panic that says
//! what to install.

use crate::proc::OwnedChild;
use crate::server::{try_spawn_server_process_on, ServerProcess};
pub use crate::webdriver::Session;
use crate::webdriver::Target;
use serde_json::{json, Map, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

impl Session {
    /// Start the app at `binary` under the driver: its window is the session's page.
    pub fn tauri(driver: &Driver, binary: &Path) -> Session {
        let mut caps = Map::new();
        caps.insert("browserName".into(), json!("wry"));
        caps.insert("tauri:options".into(), json!({ "application": binary }));
        let explain = || format!("is {} a built gridwalk-app, and does it start under Xvfb?", binary.display());
        Session::connect(&driver.url, caps, Target::Tauri, &explain)
    }
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
