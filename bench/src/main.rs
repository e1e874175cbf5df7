//! Kumo's benchmark harness.
//!
//! Starts a real `kumo serve` (release build) and measures it against baselines taken in the same
//! run on the same machine, so that results are ratios that survive a noisy machine:
//!
//! 1. warm invoke latency per runtime, against a minimal axum echo server (the floor) answering
//!    the same request from the same client;
//! 2. cold start per runtime, against starting the bare interpreter;
//! 3. throughput with 1, 2, 8 and 32 concurrent clients, against the floor server;
//! 4. memory of an idle warm environment, against the bare interpreter's;
//! 5. scale-out from 0 to 50 busy environments;
//! 6. the control plane: ListFunctions over 10,000 functions, CreateFunction of a 20 MB zip.
//!
//! Writes `results.json`, `results.md` and SVG charts to `--out`; `--publish FILE` also replaces
//! the results section of that Markdown file (BENCHMARKS.md). `--quick` runs every phase briefly
//! (a smoke test): it fails on errors, never on timings.

mod charts;
mod client;
mod functions;
mod kumo;
mod phases;
mod report;
mod stats;

use anyhow::{Context, Result};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "kumo-bench",
    about = "Measures Kumo against the physical floor"
)]
pub struct Args {
    /// Every phase, briefly: a smoke test that fails only on errors.
    #[arg(long)]
    pub quick: bool,
    /// The `kumo` binary to measure.
    #[arg(long, default_value = "target/release/kumo")]
    pub kumo: PathBuf,
    /// Where results.json, results.md and the charts go.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
    /// Runtimes to measure.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "python,node,java,dotnet,go"
    )]
    pub runtimes: Vec<String>,
    /// Replace the results section of this Markdown file.
    #[arg(long)]
    pub publish: Option<PathBuf>,
    /// Run only these phases (warm, cold, throughput, density, scaleout, control).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Internal: serve the floor (an axum echo server) and print its address.
    #[arg(long, hide = true)]
    pub floor_server: bool,
}

impl Args {
    pub fn phase(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == name)
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("while starting the async runtime")?;
    if args.floor_server {
        return rt.block_on(kumo::serve_floor());
    }
    rt.block_on(phases::run(args))
}
