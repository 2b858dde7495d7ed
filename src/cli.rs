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
    /// A pricing overlay: endpoints and tiers that add to or replace the active pricing's
    /// (repeatable; applied in order).
    #[arg(long = "pricing-overlay", global = true, value_name = "FILE")]
    pub pricing_overlays: Vec<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Base URL of the SE Ranking API.
    #[arg(
        long,
        global = true,
        env = "SERANKING_API_URL",
        default_value = "https://api.seranking.com",
        value_name = "URL"
    )]
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
    /// Redis holding the shared reservation ledger (and the guard's shared budget and rate
    /// window), for jobs on several machines; default: a local file.
    #[arg(
        long,
        global = true,
        env = "BUDGET_REDIS_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub redis: Option<String>,
    /// Print nothing but errors (and the requested output of data commands).
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

pub use crate::pricing::{Billing, OverageRate};
pub use crate::report::Format;

/// clap's view of the model's enums, kept here so no other layer depends on clap.
macro_rules! value_enum {
    ($type:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl ValueEnum for $type {
            fn value_variants<'a>() -> &'a [Self] {
                &[$(<$type>::$variant),+]
            }
            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(clap::builder::PossibleValue::new(match self {
                    $(<$type>::$variant => $name),+
                }))
            }
        }
    };
}

value_enum!(Format { Table => "table", Json => "json", Markdown => "markdown", Csv => "csv" });
value_enum!(Billing { Monthly => "monthly", Yearly => "yearly" });
value_enum!(OverageRate { Plan => "plan", Addon => "addon" });

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
    /// A local API proxy that enforces a unit budget and the rate limit at run time.
    Guard(GuardArgs),
    /// Finance: the overage cost for a tier and a usage, or a table across every tier.
    Overage(OverageArgs),
    /// Finance: scheduled workflows projected to the end of the billing period.
    Forecast(ForecastArgs),
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
    /// Fail (exit 1) when the verdict relies on a price that is assumed or disputed.
    #[arg(long)]
    pub strict_prices: bool,
}

/// What `budget guard` takes.
#[derive(Debug, Clone, Args)]
pub struct GuardArgs {
    /// Address to listen on; an address other than loopback needs --client-token-file.
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR:PORT")]
    pub listen: String,
    /// Units the guarded calls may spend in total (else the live units_left minus --reserve).
    #[arg(long, value_name = "N", value_parser = parse_count, conflicts_with = "reserve")]
    pub budget: Option<u64>,
    /// With a live budget: units to keep untouched, a count (`50k`) or a percentage (`10%`).
    #[arg(long, value_name = "N|P%")]
    pub reserve: Option<String>,
    /// Requests per rolling second, across all clients (default: the pricing file's limit).
    #[arg(long, value_name = "N")]
    pub rps: Option<u32>,
    /// Append one JSON line per call to FILE (the call journal; `--ledger` is an old alias).
    #[arg(long, alias = "ledger", value_name = "FILE")]
    pub journal: Option<std::path::PathBuf>,
    /// File holding a token every client must send (X-Budget-Token or Authorization: Bearer).
    #[arg(long, value_name = "FILE")]
    pub client_token_file: Option<std::path::PathBuf>,
    /// Longest a call waits for a slot in the rate window before a 503, in seconds.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub max_wait: f64,
    /// Most calls waiting for a slot at once; more get a 503 straight away.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub max_queue: usize,
}

fn parse_count(text: &str) -> Result<u64, String> {
    crate::count::parse(text)
}

/// What `budget overage` takes.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("amount").required(true).args(["usage", "units"])))]
pub struct OverageArgs {
    /// Overage tier: 1M, 2M, 3M, 5M, 10M, 20M, 30M, 50M, 100M, 200M, 300M, 500M or enterprise.
    #[arg(long, value_name = "TIER", required_unless_present = "all_tiers")]
    pub tier: Option<String>,
    /// Billing period of the plan.
    #[arg(long, value_enum, default_value_t = Billing::Monthly)]
    pub billing: Billing,
    /// Plan-specific overage rate or the add-on rate.
    #[arg(long, value_enum, default_value_t = OverageRate::Plan)]
    pub rate: OverageRate,
    /// The period's total use; the overage is what exceeds the tier's credits.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub usage: Option<u64>,
    /// The overage units themselves.
    #[arg(long, value_name = "N", value_parser = parse_count, conflicts_with_all = ["usage", "included"])]
    pub units: Option<u64>,
    /// USD per 1M units, replacing the table rate (required for enterprise).
    #[arg(long, value_name = "X", value_parser = crate::pricing::parse_usd)]
    pub usd_per_million: Option<rust_decimal::Decimal>,
    /// Included credits, replacing the tier's (enterprise with --usage needs it).
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub included: Option<u64>,
    /// Every tier's included credits, overage units and cost under all four rates.
    #[arg(long, conflicts_with_all = ["billing", "rate", "usd_per_million", "included"])]
    pub all_tiers: bool,
}

/// What `budget forecast` takes.
#[derive(Debug, Clone, Args)]
pub struct ForecastArgs {
    /// Workflow files (their `schedule` gives the runs; none = once).
    #[arg(required = true, value_name = "WORKFLOW")]
    pub workflows: Vec<PathBuf>,
    /// The balance to project against; makes no API call.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub units_left: Option<u64>,
    /// End of the billing period (else the live subscription's expiry), UTC.
    #[arg(long, value_name = "DATETIME", value_parser = crate::finance::parse_datetime)]
    pub period_end: Option<chrono::NaiveDateTime>,
    /// The clock to project from (default: now), UTC; e.g. 2026-11-26T00:00:00Z or 2026-11-26.
    #[arg(long, value_name = "DATETIME", value_parser = crate::finance::parse_datetime)]
    pub now: Option<chrono::NaiveDateTime>,
    /// Also write a burn-down chart to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub chart: Option<PathBuf>,
}
