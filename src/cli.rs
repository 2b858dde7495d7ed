//! Command-line types only: no logic lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Forecast and guard API-unit spending on the SE Ranking Data API.
#[derive(Debug, Parser)]
#[command(name = "budget", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Pricing file to use instead of the embedded SE Ranking table.
    #[arg(long, global = true, value_name = "FILE")]
    pub pricing: Option<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Base URL of the SE Ranking API.
    #[arg(long, global = true, env = "SERANKING_API_URL", default_value = "https://api.seranking.com", value_name = "URL")]
    pub api_url: String,
    /// File holding the API key (else env SERANKING_API_KEY). The key is never taken on the command line.
    #[arg(long, global = true, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// How to send the key: `Authorization: Token KEY` header, or the `apikey` query parameter.
    #[arg(long, global = true, value_enum, default_value_t = Auth::Header)]
    pub auth: Auth,
    /// Never call the API.
    #[arg(long, global = true)]
    pub offline: bool,
    /// Attempts per API call, the first included (retries only 429, 5xx, timeouts, connection errors).
    #[arg(long, global = true, default_value_t = 5, value_name = "N")]
    pub retries: u32,
    /// Total time allowed for one API call, retries included, in seconds.
    #[arg(long, global = true, default_value_t = 20.0, value_name = "SECS")]
    pub timeout: f64,
    /// Print nothing but errors (and the requested output of data commands).
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Markdown,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Auth {
    Header,
    Query,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Forecast what workflows cost and compare with the balance when one is known.
    Plan(PlanArgs),
    /// Like plan, but a balance is required: exits 3 when none is known (a CI gate).
    Check(PlanArgs),
    /// The active pricing: endpoint catalogue and overage tiers.
    Prices,
    /// The live subscription: status, units left, used, expiry.
    Balance,
    /// Run a command only when the workflows fit the balance, holding a reservation while it runs.
    Gate(GateArgs),
    /// Reservations held by running gates (all accounts on this machine).
    Reservations,
    /// Print the JSON Schema (draft 2020-12) of the workflow file.
    Schema,
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

/// What gate takes: the plan flags, then `--` and the command to run.
#[derive(Debug, Clone, Args)]
pub struct GateArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Let a plan beyond the usable balance run when the units beyond it, priced at the
    /// workflow's account overage rate, cost at most this many dollars.
    #[arg(long, value_name = "USD")]
    pub max_overage_usd: Option<String>,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// What plan and check take.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Workflow files.
    #[arg(required = true, value_name = "WORKFLOW")]
    pub workflows: Vec<PathBuf>,
    /// The balance to plan against; makes no API call.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub units_left: Option<u64>,
    /// Units to keep untouched: a count (`50k`) or a percentage of units_left (`10%`).
    #[arg(long, value_name = "N|P%")]
    pub reserve: Option<String>,
    /// A saved `--format json` result to compare with: shows the change per workflow and in total.
    #[arg(long, value_name = "FILE")]
    pub compare_to: Option<PathBuf>,
    /// Over budget (exit 1) when the total grows by more than N units or P% over --compare-to.
    #[arg(long, value_name = "N|P%", requires = "compare_to")]
    pub max_increase: Option<String>,
}

fn parse_count(text: &str) -> Result<u64, String> {
    crate::count::parse(text)
}
