//! `gridwalk-server`: the district server and its admin commands. A thin shell over the library.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use gridwalk_domain::{DeviceId, Role};
use gridwalk_server::app::admin::{self, NewWorker};
use gridwalk_server::app::registry::parse_scope_unit;
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
        #[arg(long, env = "GRIDWALK_PASSWORD", hide_env_values = true)]
        password: String,
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
        Command::Serve { data, listen } => serve(data, listen),
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
        Command::Worker { command: WorkerCommand::Add { data, username, name, role, scope, password } } => {
            let role = Role::from_code(&role).with_context(|| format!("unknown role {role:?}"))?;
            let scope = scope.iter().map(|s| parse_scope_unit(s)).collect::<Result<Vec<_>, _>>()?;
            let w = admin::add_worker(&data, &NewWorker { username, name, role, scope, password })?;
            println!("added worker {} ({}) id {}", w.username, w.role.code(), w.id);
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
        Command::Device { command: DeviceCommand::Revoke { data, id } } => {
            let id: DeviceId = id.parse().with_context(|| format!("{id:?} is not a device id"))?;
            admin::revoke_device(&data, id)?;
            println!("revoked device {id}");
            Ok(())
        }
    }
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

fn serve(data: PathBuf, listen: SocketAddr) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let state = AppState::open(&data, Config::default())?;
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
