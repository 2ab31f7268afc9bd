//! A private PostgreSQL cluster for one run: `initdb` into a temporary directory, the server in
//! the foreground on a free loopback port as an [`OwnedChild`] (so it is stopped by its pid, with
//! its backends, however the run ends), trust authentication on 127.0.0.1 only. `cargo xtask
//! test` starts one for the suite; a fault test starts its own, to restart it under live
//! servers.
//!
//! Debian's `postgresql` package puts the binaries in `/usr/lib/postgresql/<major>/bin`. As root
//! (CI), the cluster runs as the `postgres` user the package creates: PostgreSQL refuses root.

use crate::OwnedChild;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a starting cluster may take to accept connections.
const READY_WAIT: Duration = Duration::from_secs(60);

/// A running private cluster; stopped and removed when dropped.
pub struct Cluster {
    server: Option<OwnedChild>,
    bin: PathBuf,
    root: PathBuf,
    port: u16,
}

impl Cluster {
    /// `initdb` a new cluster in a temporary directory and start it on a free port.
    pub fn start() -> io::Result<Cluster> {
        let bin = bin_dir()?;
        let root = std::env::temp_dir().join(format!("gridwalk-pg-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&root)?;
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&root))?;
        }
        let mut initdb = as_user(as_postgres, &bin.join("initdb"));
        initdb.arg("-D").arg(root.join("data")).args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"]);
        run(initdb.stdout(Stdio::null()))?;
        let port = free_port()?;
        let mut cluster = Cluster { server: None, bin, root, port };
        cluster.launch()?;
        Ok(cluster)
    }

    /// The maintenance database's URL (user `postgres`, no password: trust on loopback).
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// A database's URL on this cluster.
    pub fn url_of(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's major version (the directory its binaries came from).
    pub fn major(&self) -> String {
        self.bin.parent().and_then(|p| p.file_name()).map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    }

    /// The server's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().map(OwnedChild::id)
    }

    /// Stop the server, keeping the data: SIGTERM to it and its backends at once (its group),
    /// so the postmaster's shutdown does not wait for clients.
    pub fn stop(&mut self) {
        if let Some(mut s) = self.server.take() {
            s.stop();
        }
    }

    /// Stop the server and start it again on the same data and port.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.start_again()
    }

    /// Start the stopped server again on the same data and port (a no-op while it runs).
    pub fn start_again(&mut self) -> io::Result<()> {
        if self.server.is_some() {
            return Ok(());
        }
        self.launch()
    }

    fn launch(&mut self) -> io::Result<()> {
        let mut cmd = as_user(is_root(), &self.bin.join("postgres"));
        cmd.arg("-D").arg(self.root.join("data")).arg("-p").arg(self.port.to_string()).arg("-k").arg(&self.root);
        // Loopback only; room for every test's writer, readers and listener at once.
        cmd.args(["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", "-c", "log_min_messages=fatal"]);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        self.server = Some(OwnedChild::spawn(&mut cmd)?);
        let deadline = Instant::now() + READY_WAIT;
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-t", "1"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            if self.server.as_ref().is_some_and(OwnedChild::has_exited) {
                return Err(io::Error::other(format!("postgres exited at start (data in {})", self.root.display())));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!("postgres did not accept connections within {READY_WAIT:?}")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The newest installed major version's binaries.
fn bin_dir() -> io::Result<PathBuf> {
    let base = Path::new("/usr/lib/postgresql");
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir(base)
        .map_err(|e| io::Error::other(format!("{}: {e} (install Debian's postgresql package)", base.display())))?
        .filter_map(|d| d.ok())
        .filter_map(|d| Some((d.file_name().to_str()?.parse().ok()?, d.path().join("bin"))))
        .filter(|(_, bin)| bin.join("postgres").is_file())
        .collect();
    majors.sort();
    majors.pop().map(|(_, bin)| bin).ok_or_else(|| io::Error::other("no PostgreSQL server under /usr/lib/postgresql"))
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// `program` as the `postgres` user when we are root (setpriv execs it: the pid is the server's).
fn as_user(as_postgres: bool, program: &Path) -> Command {
    if as_postgres {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command) -> io::Result<()> {
    let status = cmd.status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("{cmd:?} failed with {status}")))
    }
}

/// A port the kernel just gave out on loopback (free a moment ago; the cluster takes it next).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

fn unique() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_cluster_accepts_connections_restarts_on_its_port_and_is_gone_when_dropped() {
        let mut cluster = Cluster::start().expect("a private cluster starts (Debian's postgresql package is installed)");
        let port = cluster.port();
        let first = cluster.pid().expect("the server runs");
        cluster.restart().expect("the cluster restarts");
        assert_eq!(cluster.port(), port, "a restart keeps the port, so clients reconnect to the same address");
        assert_ne!(cluster.pid(), Some(first), "a restart is a new server process");
        let ready = Command::new(cluster.bin.join("pg_isready")).args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()]).status().unwrap();
        assert!(ready.success(), "the restarted cluster accepts connections");
        let root = cluster.root.clone();
        drop(cluster);
        assert!(!root.exists(), "a dropped cluster leaves no directory");
        assert!(!Path::new(&format!("/proc/{first}")).exists(), "a dropped cluster leaves no server process");
    }
}
