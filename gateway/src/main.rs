//! The `gateway` command: serve, seed, passwd, catalogs.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lakegate_catalog::CatalogType;
use lakegate_catalog::seed::{SeedOptions, seed_tpch};
use lakegate_gateway::config::Config;
use lakegate_gateway::server::Gateway;
use lakegate_security::ScramVerifier;

/// A federated SQL gateway: Postgres wire and Arrow Flight SQL in front of an Iceberg lakehouse.
#[derive(Parser, Debug)]
#[command(name = "gateway", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug)]
struct Common {
    /// TOML configuration file (see config/gateway.example.toml).
    #[arg(long, env = "GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the embedded lakehouse (overrides `data_dir`).
    #[arg(long)]
    data_dir: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve Postgres wire and Arrow Flight SQL until SIGINT/SIGTERM.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Postgres wire listen address (overrides `pg.listen`).
        #[arg(long)]
        pg_listen: Option<String>,
        /// Flight SQL listen address (overrides `flight.listen`).
        #[arg(long)]
        flight_listen: Option<String>,
    },
    /// Run a distributed worker: stages of the plans of the gateways that share this
    /// configuration's `[flight] secret_file`, over the same catalogs, until
    /// SIGINT/SIGTERM.
    Worker {
        #[command(flatten)]
        common: Common,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:50100")]
        listen: String,
        /// The URL coordinators dial (default: http:// and the listen address).
        #[arg(long)]
        advertise: Option<String>,
        /// Join this shared store (sqlite:PATH or postgres://…; default: `[finops]
        /// shared_store`), where coordinators find their workers.
        #[arg(long, value_name = "STORE_URL")]
        join: Option<String>,
    },
    /// (Re)generate the TPC-H demo tables.
    Seed {
        #[command(flatten)]
        common: Common,
        /// TPC-H scale factor (overrides `seed.scale_factor`).
        #[arg(long)]
        scale_factor: Option<f64>,
        /// Keep tables that already exist instead of regenerating them.
        #[arg(long)]
        keep_existing: bool,
    },
    /// Print the SCRAM-SHA-256 verifier of a password read from standard input
    /// (with `--md5 USER`, the PostgreSQL MD5 credential of that user instead).
    Passwd {
        /// Print the `md5` credential for this user name (for `auth = "md5"`).
        #[arg(long, value_name = "USER")]
        md5: Option<String>,
    },
    /// List the catalog types this build supports.
    Catalogs,
    /// Work with semantic model files.
    Semantic {
        #[command(subcommand)]
        command: SemanticCommand,
    },
    /// Work with policy directories.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Work with the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand, Debug)]
enum PolicyCommand {
    /// Check a policy directory (policy.csv, optional model.conf) or file: syntax, rules
    /// that can never apply, and against the configured catalogs when they open,
    /// unknown tables and columns and filters or masks that do not type-check. Exit
    /// status 1 on any problem, each printed as file:line: problem.
    Check {
        /// The directory or policy file.
        path: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Run a cases file (TOML `[[case]]`: user, sql, expect = allowed | denied | a
    /// SQLSTATE, rows, row_count, masked, unmasked, hidden, filtered, unfiltered) against
    /// an in-process gateway holding the policy of PATH over the configured catalogs
    /// (seeded with the demo data). Exit status 1 when a case fails.
    Test {
        /// The directory or policy file.
        path: PathBuf,
        /// The cases file.
        cases: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Print, per user and role, the tables, row filters, masks and denied columns
    /// gained and lost from OLD to NEW (over the configured catalogs' tables; over the
    /// rules when the catalogs cannot be opened).
    Diff {
        /// The policy in force (directory or policy file).
        old: PathBuf,
        /// The policy to deploy.
        new: PathBuf,
        /// Exit with status 1 when the policies differ (as `git diff --exit-code`).
        #[arg(long)]
        exit_code: bool,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check the trail's hash chain over every file kept (exit status 1 where it
    /// breaks, naming the file and line); prints the records checked and the head.
    Verify {
        /// The trail's current file; the configured `audit.path` (or
        /// `<data_dir>/audit/audit.jsonl`) when omitted.
        path: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand, Debug)]
enum SemanticCommand {
    /// Validate the model files of a directory (exit status 1 on any error, each
    /// printed as file:line:column: field: problem).
    Check {
        /// The directory of `*.yml` / `*.yaml` model files.
        dir: PathBuf,
    },
    /// Print the models, dimensions, measures, segments and joins added, removed or
    /// changed from OLD to NEW (directories of model files). Both must be valid.
    Diff {
        /// The models in force.
        old: PathBuf,
        /// The models to deploy.
        new: PathBuf,
        /// Exit with status 1 when the models differ (as `git diff --exit-code`).
        #[arg(long)]
        exit_code: bool,
    },
    /// Print the SQL over the base tables that a query over semantic tables expands to.
    Compile {
        /// The query, e.g. "SELECT status, MEASURE(revenue) FROM semantic.orders GROUP BY 1".
        sql: String,
        /// Model directory; the configured `semantic.models_dir`, or the demo models.
        #[arg(long)]
        models: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
}

fn load(common: &Common, extra: Vec<(&str, toml::Value)>) -> anyhow::Result<Config> {
    let mut overrides = extra;
    if let Some(dir) = &common.data_dir {
        overrides.push(("data_dir", toml::Value::String(dir.clone())));
    }
    Ok(Config::load(
        common.config.as_deref(),
        std::env::vars(),
        &overrides,
    )?)
}

fn main() -> anyhow::Result<()> {
    lakegate_gateway::backtraces::error_backtraces_off();
    // Two arenas: results cross from the execution threads to the connection threads.
    lakegate_gateway::malloc::cap_arenas(2);
    let cli = Cli::parse();
    match cli.command {
        Command::Passwd { md5 } => passwd(md5.as_deref()),
        Command::Catalogs => {
            for (kind, description) in CatalogType::ALL {
                println!("{:<12} {description}", kind.name());
            }
            Ok(())
        }
        Command::Semantic { command } => semantic(command),
        Command::Policy { command } => policy(command),
        Command::Audit {
            command: AuditCommand::Verify { path, common },
        } => {
            let path = match path {
                Some(path) => path,
                None => load(&common, Vec::new())?
                    .audit_path()
                    .ok_or_else(|| anyhow::anyhow!("the audit trail is disabled"))?,
            };
            match lakegate_security::audit::verify(&path) {
                Ok(verified) => {
                    println!(
                        "{}: {} records in {} files verified{}{}; head {}",
                        path.display(),
                        verified.records,
                        verified.files,
                        match verified.from_genesis {
                            true => " from the first record",
                            false => " from the oldest record kept (older ones expired)",
                        },
                        match verified.unchained {
                            0 => String::new(),
                            n => format!(", {n} older records written before chaining"),
                        },
                        verified.head
                    );
                    Ok(())
                }
                Err(broken) => {
                    eprintln!("{broken}");
                    std::process::exit(1);
                }
            }
        }
        Command::Serve {
            common,
            pg_listen,
            flight_listen,
        } => {
            let mut extra = Vec::new();
            if let Some(listen) = pg_listen {
                extra.push(("pg.listen", toml::Value::String(listen)));
            }
            if let Some(listen) = flight_listen {
                extra.push(("flight.listen", toml::Value::String(listen)));
            }
            let config = load(&common, extra)?;
            runtime()?.block_on(serve(config))
        }
        Command::Worker {
            common,
            listen,
            advertise,
            join,
        } => {
            let config = load(&common, Vec::new())?;
            let options = lakegate_gateway::worker::WorkerOptions {
                listen,
                advertise,
                join,
            };
            runtime()?.block_on(worker(config, options))
        }
        Command::Seed {
            common,
            scale_factor,
            keep_existing,
        } => {
            let mut extra = Vec::new();
            if let Some(sf) = scale_factor {
                extra.push(("seed.scale_factor", toml::Value::Float(sf)));
            }
            let config = load(&common, extra)?;
            runtime()?.block_on(seed(config, !keep_existing))
        }
    }
}

fn policy(command: PolicyCommand) -> anyhow::Result<()> {
    use lakegate_gateway::policy_cli;
    match command {
        PolicyCommand::Check { path, common } => {
            let config = load(&common, Vec::new())?;
            let report = runtime()?.block_on(policy_cli::check(&path, &config))?;
            if let Err(why) = &report.against_catalogs {
                eprintln!("catalogs not opened, tables and columns not checked: {why}");
            }
            if !report.problems.is_empty() {
                for problem in &report.problems {
                    eprintln!("{problem}");
                }
                std::process::exit(1);
            }
            println!("{}: {} rules valid", path.display(), report.rules);
            Ok(())
        }
        PolicyCommand::Test {
            path,
            cases,
            common,
        } => {
            let config = load(&common, Vec::new())?;
            let report = runtime()?.block_on(policy_cli::cases::run(&path, &cases, config))?;
            for line in &report.lines {
                println!("{line}");
            }
            println!(
                "{} cases: {} passed, {} failed",
                report.lines.len(),
                report.lines.len() - report.failed,
                report.failed
            );
            if report.failed > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        PolicyCommand::Diff {
            old,
            new,
            exit_code,
            common,
        } => {
            let config = load(&common, Vec::new())?;
            let report = runtime()?.block_on(policy_cli::diff::diff(&old, &new, &config))?;
            if let Some(why) = &report.without_catalogs {
                eprintln!("catalogs not opened, compared rule by rule: {why}");
            }
            if !report.changed {
                println!("no principal gains or loses anything");
            }
            for line in &report.lines {
                println!("{line}");
            }
            if exit_code && report.changed {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

fn semantic(command: SemanticCommand) -> anyhow::Result<()> {
    use lakegate_planner::ModelSource;
    match command {
        SemanticCommand::Diff {
            old,
            new,
            exit_code,
        } => {
            let load = |dir: &PathBuf| {
                lakegate_planner::load_semantic(&ModelSource::Dir(dir.clone())).map_err(
                    |problems| anyhow::anyhow!("{}: models not valid:\n{problems}", dir.display()),
                )
            };
            let lines = lakegate_planner::diff_semantic(&load(&old)?, &load(&new)?);
            if lines.is_empty() {
                println!("the models are the same");
            }
            for line in &lines {
                println!("{line}");
            }
            if exit_code && !lines.is_empty() {
                std::process::exit(1);
            }
            Ok(())
        }
        SemanticCommand::Check { dir } => {
            let models = match lakegate_planner::load_semantic(&ModelSource::Dir(dir.clone())) {
                Ok(models) => models,
                Err(problems) => {
                    // One problem per line, file:line:column: field: what is wrong.
                    eprintln!("{problems}");
                    std::process::exit(1);
                }
            };
            for model in models.models() {
                println!(
                    "{:<20} {} dimensions, {} measures, {} segments over {}",
                    model.name,
                    model.dimensions.len(),
                    model.measures.len(),
                    model.segments.len(),
                    model.table.join(".")
                );
            }
            println!("{}: {} models valid", dir.display(), models.models().len());
            Ok(())
        }
        SemanticCommand::Compile {
            sql,
            models,
            common,
        } => {
            let config = load(&common, Vec::new())?;
            let source = match models.or(config.semantic.models_dir.map(PathBuf::from)) {
                Some(dir) => ModelSource::Dir(dir),
                None => ModelSource::Builtin,
            };
            let catalog = config
                .semantic
                .catalog
                .unwrap_or_else(|| config.default_catalog.clone());
            let models =
                lakegate_planner::load_semantic(&source).map_err(|e| anyhow::anyhow!("{e}"))?;
            let expanded = lakegate_planner::compile_semantic(&models, &catalog, &sql)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{expanded}");
            Ok(())
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(lakegate_planner::THREAD_STACK_BYTES)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn serve(config: Config) -> anyhow::Result<()> {
    lakegate_gateway::logging::init(&config.log);
    let gateway = Gateway::start(config, std::io::stderr().is_terminal()).await?;
    shutdown_signal().await;
    tracing::info!("shutting down");
    gateway.shutdown().await;
    Ok(())
}

async fn worker(
    config: Config,
    options: lakegate_gateway::worker::WorkerOptions,
) -> anyhow::Result<()> {
    lakegate_gateway::logging::init(&config.log);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let started =
        lakegate_gateway::worker::start_worker(&config, &options, shutdown.clone()).await?;
    eprintln!("worker listening at {}", started.url);
    shutdown_signal().await;
    tracing::info!("shutting down");
    shutdown.cancel();
    started.done.await.context("the worker's task")?
}

async fn seed(config: Config, force: bool) -> anyhow::Result<()> {
    lakegate_gateway::logging::init(&config.log);
    let registry = lakegate_catalog::CatalogRegistry::open(&config.effective_catalogs()).await?;
    let lake = registry
        .get(&config.seed.catalog)
        .with_context(|| format!("seed.catalog {:?} is not configured", config.seed.catalog))?;
    let report = seed_tpch(
        &lake.lake,
        &SeedOptions {
            scale_factor: config.seed.scale_factor,
            schema: config.seed.schema.clone(),
            force,
            progress: std::io::stderr().is_terminal(),
        },
    )
    .await?;
    for (table, rows) in &report.written {
        println!(
            "{}.{}.{table}: {rows} rows",
            config.seed.catalog, config.seed.schema
        );
    }
    let entitlements = lakegate_catalog::seed_entitlements::seed_entitlements(&lake.lake).await?;
    if entitlements > 0 {
        println!(
            "{}.{}.{}: {entitlements} rows",
            config.seed.catalog,
            lakegate_catalog::seed_entitlements::ENTITLEMENTS_SCHEMA,
            lakegate_catalog::seed_entitlements::ENTITLEMENTS_TABLE
        );
    }
    println!("done in {:.1} s", report.elapsed.as_secs_f64());
    Ok(())
}

fn passwd(md5_user: Option<&str>) -> anyhow::Result<()> {
    if std::io::stdin().is_terminal() {
        eprintln!("Type the password and press Enter (it is echoed; pipe it in to avoid that):");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        anyhow::bail!("the password is empty");
    }
    match md5_user {
        Some(user) => println!("{}", lakegate_security::md5_credential(user, password)),
        None => println!("{}", ScramVerifier::generate(password)),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
