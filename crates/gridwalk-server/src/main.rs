//! `gridwalk-server`: the district server and its admin commands. A thin shell over the library.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use gridwalk_domain::{DeviceId, Role};
use gridwalk_server::app::access::RoleChange;
use gridwalk_server::app::admin::{self, NewWorker};
use gridwalk_server::app::registry::parse_scope_unit;
use gridwalk_server::district::EXAMPLE_TOML;
use gridwalk_server::{AppState, Config};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "gridwalk-server", about = "Gridwalk district server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API.
    Serve {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:12345")]
        listen: SocketAddr,
        /// The district's config file (TOML; see `config example`). Without it, the defaults.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The database: `postgres://user:password@host:port/dbname` (several servers may share
        /// one), or `sqlite` for the embedded file (the default). Remembered in the data
        /// directory (see `database use`).
        #[arg(long, env = "GRIDWALK_DATABASE")]
        database: Option<String>,
    },
    /// Which database a data directory uses.
    Database {
        #[command(subcommand)]
        command: DatabaseCommand,
    },
    /// Check or show the district's config file.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Load or import the district registry.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Manage workers.
    Worker {
        #[command(subcommand)]
        command: WorkerCommand,
    },
    /// Manage enrolled devices.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Manage Open311 API keys.
    Apikey {
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Courtyards' responsible grid workers (责任网格员).
    Courtyard {
        #[command(subcommand)]
        command: CourtyardCommand,
    },
    /// Back up the database and the photos into one file (0600), while the server runs.
    Backup {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a data directory from a backup file. Stop the server first.
    Restore {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        from: PathBuf,
    },
}

#[derive(Subcommand)]
enum CourtyardCommand {
    /// Name one courtyard's responsible grid worker.
    Assign {
        #[arg(long)]
        data: PathBuf,
        /// the courtyard's registry code
        #[arg(long)]
        courtyard: String,
        /// the worker's username
        #[arg(long)]
        worker: String,
    },
    /// Import responsible workers from a CSV of `courtyard_code,username`.
    ImportWorkers {
        #[arg(long)]
        data: PathBuf,
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum DatabaseCommand {
    /// Bind the data directory to a database: `sqlite` (the embedded file, the default) or a
    /// `postgres://` URL, kept in `database.url` (0600). Every later command on the directory
    /// uses it. A directory that already holds data cannot be switched.
    Use {
        #[arg(long)]
        data: PathBuf,
        url: String,
    },
    /// Print the engine a data directory uses, and where (no password).
    Show {
        #[arg(long)]
        data: PathBuf,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a config file; with --data, also its routing rules against the stored registry.
    /// Prints `ok`, or fails with `line N: message`.
    Check {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Print a commented example config file.
    Example,
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Load the generated Chaoyang demo registry.
    Demo {
        #[arg(long)]
        data: PathBuf,
    },
    /// Import a registry CSV (one courtyard a row).
    Import {
        #[arg(long)]
        data: PathBuf,
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum WorkerCommand {
    /// Add a worker.
    Add {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: String,
        /// grid_worker | cadre | supervisor | department_staff | admin
        #[arg(long)]
        role: String,
        /// district | subdistrict:CODE | community:CODE | courtyard:CODE | department:NAME (repeatable or comma-separated)
        #[arg(long, required = true, value_delimiter = ',')]
        scope: Vec<String>,
        /// Read the password from the first line of stdin (else it is asked on the terminal,
        /// twice, without echo). Never on the command line, where `ps` and shell history see it.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a worker: their devices are refused at once and they cannot log in.
    Disable {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        username: String,
    },
    /// Enable a disabled worker again: their devices work again.
    Enable {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        username: String,
    },
    /// Set a worker's password (from the terminal or stdin); every device of theirs is revoked.
    Password {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        username: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a worker's role, scope or both; their devices get them on their next request.
    Role {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        username: String,
        /// grid_worker | cadre | supervisor | department_staff | admin
        #[arg(long)]
        role: Option<String>,
        /// the new scope, as for `worker add` (replaces the old one)
        #[arg(long, value_delimiter = ',')]
        scope: Vec<String>,
    },
    /// List workers.
    List {
        #[arg(long)]
        data: PathBuf,
    },
}

#[derive(Subcommand)]
enum ApikeyCommand {
    /// Make a key; it is printed once and stored only as its sha256.
    Add {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        name: String,
    },
    /// List keys (never the keys themselves).
    List {
        #[arg(long)]
        data: PathBuf,
    },
    /// Revoke a key by its id.
    Revoke {
        #[arg(long)]
        data: PathBuf,
        id: String,
    },
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// List devices.
    List {
        #[arg(long)]
        data: PathBuf,
    },
    /// Revoke a device's token.
    Revoke {
        #[arg(long)]
        data: PathBuf,
        id: String,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve { data, listen, config, database } => {
            let config = match config {
                Some(path) => load_config(&path)?,
                None => Config::default(),
            };
            if let Some(url) = database {
                admin::use_database(&data, &url)?;
            }
            serve(data, listen, config)
        }
        Command::Database { command: DatabaseCommand::Use { data, url } } => {
            let db = admin::use_database(&data, &url)?;
            println!("{}: {}", data.display(), db.describe());
            Ok(())
        }
        Command::Database { command: DatabaseCommand::Show { data } } => {
            println!("{}", gridwalk_server::store::engine::Database::of(&data)?.describe());
            Ok(())
        }
        Command::Config { command: ConfigCommand::Check { config, data } } => {
            let parsed = load_config(&config)?;
            if let Some(data) = data {
                let (registry, _version) = admin::stored_registry(&data)?;
                if registry.subdistricts.is_empty() {
                    eprintln!("warning: {} holds no registry; routing rules naming a subdistrict were not checked", data.display());
                }
                parsed.district.check_registry(&registry).with_context(|| format!("config file {}", config.display()))?;
            }
            println!("ok");
            Ok(())
        }
        Command::Config { command: ConfigCommand::Example } => {
            print!("{EXAMPLE_TOML}");
            Ok(())
        }
        Command::Registry { command: RegistryCommand::Demo { data } } => {
            let v = admin::load_demo_registry(&data)?;
            println!("demo registry loaded (version {v})");
            Ok(())
        }
        Command::Registry { command: RegistryCommand::Import { data, file } } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            match admin::import_registry_csv(&data, &text) {
                Ok(v) => {
                    println!("registry imported (version {v})");
                    Ok(())
                }
                Err(gridwalk_server::Error::RegistryImport(errors)) => {
                    for e in &errors {
                        eprintln!("{}:{}: {}", file.display(), e.line, e.message);
                    }
                    bail!("{} bad rows; nothing imported", errors.len())
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Courtyard { command: CourtyardCommand::Assign { data, courtyard, worker } } => {
            report_rows(Path::new("-"), admin::set_responsible(&data, &courtyard, &worker).map(|()| 1))?;
            println!("courtyard {courtyard}: responsible worker {worker}");
            Ok(())
        }
        Command::Courtyard { command: CourtyardCommand::ImportWorkers { data, file } } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let n = report_rows(&file, admin::import_responsible_csv(&data, &text))?;
            println!("{n} courtyards' responsible workers set");
            Ok(())
        }
        Command::Worker { command: WorkerCommand::Add { data, username, name, role, scope, password_stdin } } => {
            let role = Role::from_code(&role).with_context(|| format!("unknown role {role:?}"))?;
            let scope = scope.iter().map(|s| parse_scope_unit(s)).collect::<Result<Vec<_>, _>>()?;
            let password = read_password(password_stdin, &username)?;
            let w = admin::add_worker(&data, &NewWorker { username, name, role, scope, password })?;
            println!("added worker {} ({}) id {}", w.username, w.role.code(), w.id);
            Ok(())
        }
        Command::Worker { command: WorkerCommand::Disable { data, username } } => {
            admin::set_disabled(&data, &username, true)?;
            println!("disabled worker {username}: their devices are refused and they cannot log in");
            Ok(())
        }
        Command::Worker { command: WorkerCommand::Enable { data, username } } => {
            admin::set_disabled(&data, &username, false)?;
            println!("enabled worker {username}");
            Ok(())
        }
        Command::Worker { command: WorkerCommand::Password { data, username, password_stdin } } => {
            let password = read_password(password_stdin, &username)?;
            let done = admin::reset_password(&data, &username, &password)?;
            println!("password of {username} set; {} devices revoked (they log in again)", done.devices_revoked);
            Ok(())
        }
        Command::Worker { command: WorkerCommand::Role { data, username, role, scope } } => {
            let change = RoleChange { role, scope: (!scope.is_empty()).then_some(scope) };
            let done = admin::change_role(&data, &username, &change)?;
            println!("worker {username}: role {} scope {:?}", done.worker.role.code(), done.worker.scope);
            Ok(())
        }
        Command::Worker { command: WorkerCommand::List { data } } => {
            for w in admin::list_workers(&data)? {
                println!("{}\t{}\t{}\t{}\t{:?}", w.id, w.username, w.name, w.role.code(), w.scope);
            }
            Ok(())
        }
        Command::Device { command: DeviceCommand::List { data } } => {
            for d in admin::list_devices(&data)? {
                let state = if d.revoked_ms.is_some() { "revoked" } else { "active" };
                println!("{}\t{}\t{}\t{}\theld_seq={}", d.id, d.username, d.name, state, d.held_seq);
            }
            Ok(())
        }
        Command::Apikey { command: ApikeyCommand::Add { data, name } } => {
            let k = admin::add_api_key(&data, &name)?;
            println!("api key id {}\nkey {}\n(shown once: only its hash is stored)", k.id, k.key);
            Ok(())
        }
        Command::Apikey { command: ApikeyCommand::List { data } } => {
            for k in admin::list_api_keys(&data)? {
                let state = if k.revoked_ms.is_some() { "revoked" } else { "active" };
                println!("{}\t{}\t{}\tcreated_ms={}", k.id, k.name, state, k.created_ms);
            }
            Ok(())
        }
        Command::Apikey { command: ApikeyCommand::Revoke { data, id } } => {
            admin::revoke_api_key(&data, &id)?;
            println!("revoked api key {id}");
            Ok(())
        }
        Command::Backup { data, out } => {
            let s = admin::backup(&data, &out)?;
            println!("backed up {} events and {} photos (schema {}) to {}", s.events, s.blobs, s.schema, out.display());
            Ok(())
        }
        Command::Restore { data, from } => {
            let (s, epoch) = admin::restore(&data, &from)?;
            println!(
                "restored {} events and {} photos (schema {}) from {}; new epoch {epoch}",
                s.events,
                s.blobs,
                s.schema,
                from.display()
            );
            Ok(())
        }
        Command::Device { command: DeviceCommand::Revoke { data, id } } => {
            let id: DeviceId = id.parse().with_context(|| format!("{id:?} is not a device id"))?;
            admin::revoke_device(&data, id)?;
            println!("revoked device {id}");
            Ok(())
        }
    }
}

/// A new password: the first line of stdin, or asked twice on the terminal with echo off.
/// Checked by the password rule here already, so a weak one is refused before a retype.
fn read_password(from_stdin: bool, username: &str) -> anyhow::Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("reading the password from stdin")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        let first = ask_hidden("new password: ")?;
        gridwalk_server::app::access::check_new_password(&first, username)?;
        if ask_hidden("again: ")? != first {
            bail!("the two passwords differ; nothing changed");
        }
        first
    };
    gridwalk_server::app::access::check_new_password(&password, username)?;
    Ok(password)
}

/// Ask on the controlling terminal with echo off, and put the terminal back as it was.
fn ask_hidden(prompt: &str) -> anyhow::Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    use std::io::BufRead;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .context("no terminal to ask the password on: pipe it in with --password-stdin")?;
    let was = tcgetattr(&tty).context("reading the terminal's settings")?;
    let mut quiet = was.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    (&tty).write_all(prompt.as_bytes())?;
    tcsetattr(&tty, SetArg::TCSAFLUSH, &quiet).context("turning echo off")?;
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    tcsetattr(&tty, SetArg::TCSAFLUSH, &was).context("turning echo back on")?;
    read.context("reading the password")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// Print every bad row of an import as `file:line: message`.
fn report_rows<T>(file: &Path, result: Result<T, gridwalk_server::Error>) -> anyhow::Result<T> {
    match result {
        Ok(v) => Ok(v),
        Err(gridwalk_server::Error::RegistryImport(errors)) => {
            for e in &errors {
                eprintln!("{}:{}: {}", file.display(), e.line, e.message);
            }
            bail!("{} bad rows; nothing changed", errors.len())
        }
        Err(e) => Err(e.into()),
    }
}

/// A config file read and parsed; an error names the file and its line.
fn load_config(path: &Path) -> anyhow::Result<Config> {
    Config::from_file(path).with_context(|| format!("config file {}", path.display()))
}

fn serve(data: PathBuf, listen: SocketAddr, config: Config) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let district = config.district.clone();
        // Held until the process ends: `restore` refuses while it is held.
        let _held = admin::hold_data_dir(&data)?;
        let state = AppState::open(&data, config)?;
        // The routing rules' subdistricts are checked against the registry as stored at start
        // (a later import by the CLI is not re-checked).
        let registry = state.registry();
        if registry.registry.subdistricts.is_empty() {
            if district.routing.iter().any(|r| r.subdistrict.is_some()) {
                tracing::warn!("no registry loaded: routing rules naming a subdistrict are not checked");
            }
        } else {
            district.check_registry(&registry.registry).context("the config file does not fit the registry")?;
        }
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
        let addr = listener.local_addr()?;
        // Tests and scripts wait for this exact line to learn the port.
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
        drop(out);
        gridwalk_server::serve(listener, state, shutdown_signal()).await?;
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
