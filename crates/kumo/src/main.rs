//! The `kumo` binary: `kumo serve` runs the platform; the other subcommands are a small client
//! for deploying and invoking functions against a running server.

mod auth;
mod cli;
mod config;
mod datadir;
mod events;
mod observe;
mod paths;
mod runtimes;
mod serve;
mod telemetry;
mod uids;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "kumo",
    version,
    about = "A self-hosted, AWS Lambda-compatible serverless platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform.
    Serve {
        /// Address to listen on (HOST:PORT; port 0 picks a free one).
        #[arg(long)]
        listen: Option<String>,
        /// Directory for the database, code packages and scratch space.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Platform log format.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        log_format: String,
        /// Run function code without isolation (namespaces, cgroups, seccomp). Only for trusted
        /// code on machines that cannot sandbox.
        #[arg(long)]
        insecure_no_sandbox: bool,
    },
    /// Zip a directory and create or update a function from it.
    Deploy {
        dir: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        runtime: String,
        #[arg(long)]
        handler: String,
        #[arg(long)]
        memory: Option<u32>,
        #[arg(long)]
        timeout: Option<u32>,
        /// Environment variable KEY=VALUE (repeatable).
        #[arg(long = "env", value_parser = parse_kv)]
        env: Vec<(String, String)>,
        /// Also give the function a URL (auth type NONE unless AWS_IAM is given) and print it.
        #[arg(long, value_name = "AUTH_TYPE", num_args = 0..=1, default_missing_value = "NONE", value_parser = ["NONE", "AWS_IAM"])]
        url: Option<String>,
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Invoke a function and print its response.
    Invoke {
        name: String,
        /// JSON payload, or @FILE.
        #[arg(long)]
        payload: Option<String>,
        /// Print the invocation's log tail on stderr.
        #[arg(long)]
        log: bool,
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// List functions.
    List {
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Print a function's log (`--since 10m` by default); `-f` keeps printing new events.
    Logs {
        /// Function name (or a log group starting with `/`).
        name: String,
        /// Keep polling for new events.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Start this long ago (`30s`, `10m`, `2h`, `1d`), or at a time (RFC 3339, epoch ms).
        #[arg(long, default_value = "10m")]
        since: String,
        /// Filter pattern: terms, "quoted phrases", ?alternatives, -exclusions.
        #[arg(long)]
        filter: Option<String>,
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Print requests, GB-seconds and cost from the usage records.
    Usage {
        /// Only this function.
        #[arg(long)]
        function: Option<String>,
        /// From this long ago or this time (inclusive).
        #[arg(long)]
        since: Option<String>,
        /// Until this long ago or this time (exclusive).
        #[arg(long)]
        until: Option<String>,
        /// Group rows.
        #[arg(long, default_value = "total", value_parser = ["total", "hour", "day", "month", "function"])]
        by: String,
        /// Print the server's JSON report.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Delete a function.
    Delete {
        name: String,
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Show or re-queue the events of a function that failed for good (its dead-letter store).
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Run a function on a schedule: `rate(5 minutes)` or `cron(0 12 * * ? *)` (UTC).
    Schedule {
        name: String,
        expression: String,
        /// Fixed JSON event to send instead of the "Scheduled Event" document.
        #[arg(long)]
        input: Option<String>,
        #[command(flatten)]
        endpoint: Endpoint,
    },
}

#[derive(Subcommand)]
enum DlqAction {
    /// List a function's dead letters.
    List {
        name: String,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Queue a function's dead letters again (as new events) and empty the store.
    Replay {
        name: String,
        #[command(flatten)]
        endpoint: Endpoint,
    },
}

#[derive(clap::Args)]
struct Endpoint {
    /// Kumo's URL.
    #[arg(long, env = "KUMO_ENDPOINT", default_value = concat!("http://", "127.0.0.1:9900"))]
    endpoint: String,
    /// Access key id to sign requests with (SigV4).
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    access_key: Option<String>,
    /// Secret access key to sign requests with.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Data directory of the server whose generated key to sign with (when no key is given;
    /// ./kumo-data is tried last).
    #[arg(long, env = "KUMO_SERVER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Region to sign for (any region is accepted by Kumo).
    #[arg(long, env = "AWS_REGION")]
    region: Option<String>,
}

impl Endpoint {
    /// A client of this endpoint that signs with the chosen credentials.
    fn api(&self) -> Result<cli::Api> {
        let credentials = auth::client_credentials(
            self.access_key.clone(),
            self.secret_key.clone(),
            self.data_dir.as_deref(),
        )?;
        Ok(cli::Api::new(&self.endpoint)?.with_credentials(credentials, self.region.as_deref()))
    }
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("kumo: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            listen,
            data_dir,
            config,
            log_format,
            insecure_no_sandbox,
        } => {
            init_tracing(&log_format);
            let settings = config::Settings::load(config.as_deref(), listen, data_dir)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("while starting the async runtime")?;
            rt.block_on(serve::run(settings, insecure_no_sandbox))?;
            Ok(true)
        }
        Command::Deploy {
            dir,
            name,
            runtime,
            handler,
            memory,
            timeout,
            env,
            url,
            endpoint,
        } => {
            let api = endpoint.api()?;
            cli::deploy(
                &api,
                &cli::DeployArgs {
                    dir: &dir,
                    name: &name,
                    runtime: &runtime,
                    handler: &handler,
                    memory,
                    timeout,
                    env: &env,
                },
            )?;
            if let Some(auth_type) = url {
                cli::ensure_url(&api, &name, &auth_type)?;
            }
            Ok(true)
        }
        Command::Invoke {
            name,
            payload,
            log,
            endpoint,
        } => cli::invoke(&endpoint.api()?, &name, payload.as_deref(), log),
        Command::List { endpoint } => {
            cli::list(&endpoint.api()?)?;
            Ok(true)
        }
        Command::Logs {
            name,
            follow,
            since,
            filter,
            endpoint,
        } => {
            observe::logs(
                &endpoint.api()?,
                &observe::LogsArgs {
                    name: &name,
                    follow,
                    since: &since,
                    filter: filter.as_deref(),
                },
            )?;
            Ok(true)
        }
        Command::Usage {
            function,
            since,
            until,
            by,
            json,
            endpoint,
        } => {
            observe::usage(
                &endpoint.api()?,
                &observe::UsageArgs {
                    function: function.as_deref(),
                    since: since.as_deref(),
                    until: until.as_deref(),
                    by: &by,
                    json,
                },
            )?;
            Ok(true)
        }
        Command::Delete { name, endpoint } => {
            cli::delete(&endpoint.api()?, &name)?;
            Ok(true)
        }
        Command::Dlq {
            action:
                DlqAction::List {
                    name,
                    json,
                    endpoint,
                },
        } => {
            events::dlq_list(&endpoint.api()?, &name, json)?;
            Ok(true)
        }
        Command::Dlq {
            action: DlqAction::Replay { name, endpoint },
        } => {
            events::dlq_replay(&endpoint.api()?, &name)?;
            Ok(true)
        }
        Command::Schedule {
            name,
            expression,
            input,
            endpoint,
        } => {
            events::schedule(&endpoint.api()?, &name, &expression, input.as_deref())?;
            Ok(true)
        }
    }
}

fn init_tracing(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("KUMO_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
