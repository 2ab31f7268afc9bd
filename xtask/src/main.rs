//! `cargo xtask demo | test | bench`. The two README commands take a fresh Debian 12 / Ubuntu
//! machine with Rust to a running system and to a full test run, installing what is missing.

use anyhow::{bail, Context, Result};
use gridwalk_proc::{OwnedChild, CHECK_RUN_DIR_ENV, RUN_DIR_ENV};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Debian packages the build and the tests need: SQLCipher links the system libcrypto; the
/// tablet app (Tauri 2) links WebKitGTK 4.1 and librsvg; its WebDriver tests run it under Xvfb
/// through Debian's WebKitWebDriver; Chinese text needs a CJK font.
const APT_PACKAGES: &[&str] = &[
    "build-essential",
    "pkg-config",
    "libssl-dev",
    "libwebkit2gtk-4.1-dev",
    "librsvg2-dev",
    "webkit2gtk-driver",
    "xvfb",
    "fonts-noto-cjk",
    // The tablet shell's keystore test runs GNOME Keyring's Secret Service on a private bus.
    "dbus",
    "gnome-keyring",
    // The web console's browser tests (tests/src/browser.rs): headless Chromium through
    // Debian's chromedriver, which is built for the same Chromium version.
    "chromium",
    "chromium-driver",
    // The server's second engine: the suite runs on a private cluster (gridwalk_proc::postgres).
    "postgresql",
];

/// The server tests that run a second time with the server's data on PostgreSQL: the whole
/// server suite, and the end-to-end sync, crash, Open311 and workflow tests (the console's
/// browser tests and the SQLite backup/restore ones are the file engine's alone; the `postgres`
/// module's multi-process tests are PostgreSQL's in every pass, so they run once).
const POSTGRES_E2E_MODULES: &[&str] = &["sync::", "server_crash::", "open311::", "workflow::"];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("demo") => demo(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("fuzz") => fuzz(&args[1..]),
        Some("deps") => ensure_packages(APT_PACKAGES),
        _ => {
            eprintln!("usage: cargo xtask <demo|test|bench|fuzz|deps>");
            eprintln!("  demo   build and start the demo system on the generated Chaoyang registry");
            eprintln!("  test   install what is missing, then fmt, clippy, build and every test");
            eprintln!("  bench  run the benchmarks; writes target/bench/results.jsonl and BENCHMARKS.md");
            eprintln!("  fuzz   [CASES] run the wire fuzz targets longer (default 20000 cases each; `test` runs 48)");
            std::process::exit(2)
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace").to_path_buf()
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

fn missing_packages(pkgs: &[&str]) -> Vec<String> {
    pkgs.iter()
        .filter(|p| {
            let out = Command::new("dpkg-query").args(["-W", "-f=${Status}", p]).output();
            !matches!(out, Ok(o) if String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .map(|p| p.to_string())
        .collect()
}

/// Install missing Debian packages when we are root (or have sudo); otherwise print the line.
fn ensure_packages(pkgs: &[&str]) -> Result<()> {
    if Command::new("dpkg-query").arg("--version").output().is_err() {
        eprintln!("xtask: not a Debian-family system; make sure these are installed: {}", pkgs.join(" "));
        return Ok(());
    }
    let missing = missing_packages(pkgs);
    if missing.is_empty() {
        return Ok(());
    }
    let line = format!("apt-get install -y --no-install-recommends {}", missing.join(" "));
    let sudo = if is_root() {
        None
    } else if Command::new("sudo").args(["-n", "true"]).status().map(|s| s.success()).unwrap_or(false) {
        Some("sudo")
    } else {
        bail!("missing system packages. Run:\n  sudo apt-get update && sudo {line}");
    };
    let apt = |args: &[&str]| {
        let mut c = match sudo {
            Some(s) => {
                let mut c = Command::new(s);
                c.arg("apt-get");
                c
            }
            None => Command::new("apt-get"),
        };
        c.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        c
    };
    run(&mut apt(&["update", "-q"]))?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(missing.iter().map(String::as_str));
    run(&mut apt(&args))
}

fn test() -> Result<()> {
    ensure_packages(APT_PACKAGES)?;
    ensure_tauri_driver()?;
    // The app embeds ui/dist at compile time, so the UI is built before any cargo step.
    build_ui()?;
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    // The suite's last test is not among --all-targets (it is test = false).
    run(cargo().args(["clippy", "-p", "gridwalk-e2e", "--test", "leftovers", "--", "-D", "warnings"]))?;
    // The end-to-end tests start the real server binary as a process (to kill -9 it), and
    // the real app binary under WebDriver.
    run(cargo().args(["build", "--workspace", "--bins"]))?;
    run(&mut npm(&["test"]))?;
    // Every process a test starts is recorded in the run's directory (gridwalk-proc). Once
    // all tests have ended, passed or not, the suite's last test checks that none is alive.
    let run_dir = new_run_dir()?;
    // One private PostgreSQL cluster for the run, stopped by its pid when this returns. Every
    // test that needs PostgreSQL finds it in GRIDWALK_TEST_POSTGRES (and fails without it).
    let cluster = gridwalk_proc::postgres::Cluster::start().context("starting the tests' PostgreSQL cluster")?;
    eprintln!("xtask: PostgreSQL for the tests at {} (pid {:?})", cluster.url(), cluster.pid());
    let on = |engine: &str, cmd: &mut Command| -> Result<()> {
        run(cmd.env(RUN_DIR_ENV, &run_dir).env("GRIDWALK_TEST_POSTGRES", cluster.url()).env("GRIDWALK_TEST_ENGINE", engine))
    };
    let sqlite = on("sqlite", cargo().args(["test", "--workspace", "--no-fail-fast"]));
    let server_on_pg = on("postgres", cargo().args(["test", "-p", "gridwalk-server", "--test", "server", "--no-fail-fast"]));
    let e2e_on_pg =
        on("postgres", cargo().args(["test", "-p", "gridwalk-e2e", "--test", "e2e", "--no-fail-fast", "--"]).args(POSTGRES_E2E_MODULES));
    drop(cluster);
    let last =
        run(cargo().args(["test", "-p", "gridwalk-e2e", "--test", "leftovers"]).env_remove(RUN_DIR_ENV).env(CHECK_RUN_DIR_ENV, &run_dir));
    both(both(both(sqlite, server_on_pg), e2e_on_pg), last)
}

/// A fresh directory for one run's process records: <target>/test-pids/<run id>.
fn new_run_dir() -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let dir = std::env::current_dir()?.join(target).join("test-pids").join(format!("{secs}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// `npm …` in ui/.
fn npm(args: &[&str]) -> Command {
    let mut c = Command::new("npm");
    c.args(args).current_dir("ui");
    c
}

/// Install the UI's locked dependencies and build ui/dist (Node 20+ and npm must be there).
fn build_ui() -> Result<()> {
    if Command::new("npm").arg("--version").output().is_err() {
        bail!("npm is missing: install Node.js 20 or newer (e.g. `apt-get install nodejs npm`), then run this again");
    }
    run(&mut npm(&["ci", "--no-audit", "--no-fund"]))?;
    run(&mut npm(&["run", "build"]))
}

/// A tool on PATH or in ~/.cargo/bin.
fn find_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// The WebDriver tests drive the app through tauri-driver.
fn ensure_tauri_driver() -> Result<()> {
    if find_tool("tauri-driver").is_none() {
        run(cargo().args(["install", "tauri-driver", "--locked"]))?;
    }
    Ok(())
}

fn has_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}

/// Start the release tablet app (built beforehand) with its data in target/demo/app.
fn launch_app(server_url: &str) -> Result<OwnedChild> {
    let data = Path::new("target/demo/app");
    std::fs::create_dir_all(data)?;
    let child = OwnedChild::spawn_interactive(Command::new("target/release/gridwalk-app").env("GRIDWALK_DATA_DIR", data))
        .context("cannot start target/release/gridwalk-app")?;
    eprintln!("xtask: the tablet app is running (data in {}); enrol it against {server_url}", data.display());
    eprintln!("xtask: e.g. username wang, password gridwalk-demo, and a PIN of 6 to 12 digits of your choosing");
    Ok(child)
}

/// The demo server, and the tablet app against it when there is a display to show it on.
fn demo(args: &[String]) -> Result<()> {
    use std::io::{BufRead, BufReader};
    ensure_packages(APT_PACKAGES)?;
    let display = has_display();
    if display {
        build_ui()?;
        run(cargo().args(["build", "--release", "-p", "gridwalk-app"]))?;
    }
    let mut cmd = cargo();
    cmd.args(["run", "--release", "-p", "gridwalk-e2e", "--bin", "gridwalk-demo", "--"]).args(args).stdout(std::process::Stdio::piped());
    eprintln!("xtask: running {cmd:?}");
    // Both stay in our process group, so a Ctrl-C stops them as it stops us; the guards stop
    // them on every other way out.
    let mut server = OwnedChild::spawn_interactive(&mut cmd).context("cannot start the demo")?;
    let mut app = None;
    for line in BufReader::new(server.take_stdout().context("demo stdout")?).lines() {
        let line = line?;
        println!("{line}");
        // The demo prints "serving on URL; Ctrl-C stops" once it serves.
        if let Some(url) = line.strip_prefix("serving on ").map(|r| r.split(';').next().unwrap_or(r).trim().to_owned()) {
            if display {
                app = Some(launch_app(&url)?);
            } else {
                eprintln!("xtask: no display (DISPLAY / WAYLAND_DISPLAY unset): not launching the tablet app; the server keeps serving");
            }
        }
    }
    let status = server.wait()?;
    drop(app);
    if !status.success() {
        bail!("the demo failed with {status}");
    }
    Ok(())
}

/// The property-based fuzz targets of the server's wire (push bodies, Open311 parameters),
/// with many more cases than the bounded run in `cargo xtask test`.
fn fuzz(args: &[String]) -> Result<()> {
    let cases = args.first().map_or("20000", String::as_str);
    run(cargo().env("GRIDWALK_FUZZ_CASES", cases).args(["test", "--release", "-p", "gridwalk-server", "--test", "server", "fuzz::"]))
}

fn bench(args: &[String]) -> Result<()> {
    ensure_packages(APT_PACKAGES)?;
    std::fs::create_dir_all("target/bench")?;
    // The app start benchmark drives the release app binary under WebDriver.
    if args.is_empty() || args.iter().any(|a| "app.cold_start_today".starts_with(a.as_str())) {
        ensure_tauri_driver()?;
        build_ui()?;
        run(cargo().args(["build", "--release", "-p", "gridwalk-app"]))?;
    }
    // The dispatch and console benchmarks run the release server binary as a process of its own.
    let server_benches = ["server.dispatch_4000_waiting", "console.over_1m_issues", "server.ingest_pg"];
    if args.is_empty() || args.iter().any(|a| server_benches.iter().any(|b| b.starts_with(a.as_str()))) {
        run(cargo().args(["build", "--release", "-p", "gridwalk-server", "--bin", "gridwalk-server"]))?;
    }
    let run_dir = new_run_dir()?;
    let mut cmd = cargo();
    cmd.args(["run", "--release", "-p", "gridwalk-e2e", "--bin", "gridwalk-bench", "--"]).args(args).env(RUN_DIR_ENV, &run_dir);
    let benches = run(&mut cmd);
    // As after the tests: nothing the benchmarks started may outlive them.
    let left = gridwalk_proc::check_run(&run_dir, Duration::from_secs(5)).map_err(anyhow::Error::msg);
    if left.is_ok() {
        std::fs::remove_dir_all(&run_dir)?;
    }
    both(benches, left.map(|_| ()))
}

/// Ok when both are; otherwise every error.
fn both(a: Result<()>, b: Result<()>) -> Result<()> {
    match (a, b) {
        (Err(a), Err(b)) => bail!("{a:#}\n{b:#}"),
        (a, b) => a.and(b),
    }
}
