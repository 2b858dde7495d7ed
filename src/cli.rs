//! Command-line types only: no logic lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Forecast and guard API-unit spending on the SE Ranking Data API.
#[derive(Debug, Parser)]
#[command(
    name = "budget",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_long_help = MAIN_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub quiet: QuietFlag,
    #[command(subcommand)]
    pub command: Command,
}

/// The heading of the options many commands share, apart from each command's own.
const GLOBAL: &str = "Global options";

/// `--quiet`, the one flag every command takes (anywhere on the line).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = GLOBAL)]
pub struct QuietFlag {
    /// Print nothing but errors (and the requested output of data commands).
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// `--format`, on the commands that render a report (not `schema` or `completions`).
#[derive(Debug, Clone, Args)]
pub struct FormatFlag {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `--pricing`, on the commands that price units.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = GLOBAL)]
pub struct PricingFlag {
    /// Pricing file to use instead of the embedded SE Ranking table.
    #[arg(long, value_name = "FILE")]
    pub pricing: Option<PathBuf>,
    /// A pricing overlay: endpoints and tiers that add to or replace the active pricing's
    /// (repeatable; applied in order).
    #[arg(long = "pricing-overlay", value_name = "FILE")]
    pub pricing_overlays: Vec<PathBuf>,
}

const DEFAULT_API_URL: &str = "https://api.seranking.com";
const DEFAULT_RETRIES: u32 = 5;
const DEFAULT_TIMEOUT: f64 = 20.0;

/// How to reach the SE Ranking API, on the commands that may call it.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = GLOBAL)]
pub struct ApiFlags {
    /// Base URL of the SE Ranking API.
    #[arg(
        long,
        env = "SERANKING_API_URL",
        hide_env_values = true,
        default_value = DEFAULT_API_URL,
        value_name = "URL"
    )]
    pub api_url: String,
    /// File holding the API key (else env SERANKING_API_KEY). The key is never taken on the command line.
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// How to send the key: `Authorization: Token KEY` header, or the `apikey` query parameter.
    #[arg(long, value_enum, default_value_t = Auth::Header)]
    pub auth: Auth,
    /// Never call the API.
    #[arg(long)]
    pub offline: bool,
    /// Attempts per API call, the first included (retries only 429, 5xx, timeouts, connection errors).
    #[arg(long, default_value_t = DEFAULT_RETRIES, value_name = "N")]
    pub retries: u32,
    /// Total time allowed for one API call, retries included, in seconds.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT, value_name = "SECS")]
    pub timeout: f64,
}

impl Default for ApiFlags {
    fn default() -> Self {
        ApiFlags {
            api_url: DEFAULT_API_URL.into(),
            api_key_file: None,
            auth: Auth::Header,
            offline: false,
            retries: DEFAULT_RETRIES,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// `--redis`, on the commands that read or write reservations.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = GLOBAL)]
pub struct RedisFlag {
    /// Redis holding the shared reservation ledger (and the guard's shared budget and rate
    /// window), for jobs on several machines; default: a local file.
    #[arg(
        long,
        env = "BUDGET_REDIS_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub redis: Option<String>,
}

/// What the commands that plan, call the API and reserve take besides their own flags.
#[derive(Debug, Clone, Args)]
pub struct Shared {
    #[command(flatten)]
    pub output: FormatFlag,
    #[command(flatten)]
    pub pricing: PricingFlag,
    #[command(flatten)]
    pub api: ApiFlags,
    #[command(flatten)]
    pub ledger: RedisFlag,
}

/// The settings of one run, gathered from the flags its command takes (a command without a
/// group of flags gets that group's defaults, which it never reads). Each command accepts only
/// the flags that mean something to it: `budget schema --format json` or `budget prices
/// --retries 3` is a usage error (exit 2), not a silently ignored flag.
#[derive(Debug, Clone)]
pub struct Global {
    pub pricing: Option<PathBuf>,
    pub pricing_overlays: Vec<PathBuf>,
    pub format: Format,
    pub api_url: String,
    pub api_key_file: Option<PathBuf>,
    pub auth: Auth,
    pub offline: bool,
    pub retries: u32,
    pub timeout: f64,
    pub redis: Option<String>,
    pub quiet: bool,
}

impl Cli {
    /// The run's settings, from the command's flags.
    pub fn global(&self) -> Global {
        let table = FormatFlag {
            format: Format::Table,
        };
        let none = (None, None, None);
        let (output, pricing, api, ledger): (
            &FormatFlag,
            Option<&PricingFlag>,
            Option<&ApiFlags>,
            Option<&RedisFlag>,
        ) = match &self.command {
            Command::Plan(a) | Command::Check(a) => {
                let s = &a.shared;
                (&s.output, Some(&s.pricing), Some(&s.api), Some(&s.ledger))
            }
            Command::Gate(a) => {
                let s = &a.plan.shared;
                (&s.output, Some(&s.pricing), Some(&s.api), Some(&s.ledger))
            }
            Command::Forecast(a) => {
                let s = &a.shared;
                (&s.output, Some(&s.pricing), Some(&s.api), Some(&s.ledger))
            }
            Command::Guard(a) => {
                let s = &a.shared;
                (&s.output, Some(&s.pricing), Some(&s.api), Some(&s.ledger))
            }
            Command::Balance(a) => (&a.output, None, Some(&a.api), None),
            Command::Prices(a) => (&a.output, Some(&a.pricing), None, None),
            Command::Overage(a) => (&a.output, Some(&a.pricing), None, None),
            Command::Reservations(a) => (&a.output, None, None, Some(&a.ledger)),
            Command::Reconcile(a) => (&a.output, Some(&a.pricing), None, None),
            // The page is HTML whatever `--format` would say: the command takes none.
            Command::Report(a) => (&table, Some(&a.pricing), Some(&a.api), Some(&a.ledger)),
            Command::Calibrate(a) => (&a.output, Some(&a.pricing), Some(&a.api), None),
            // Its own `--format` (table or json): `commands::guard_admin` reads it.
            Command::GuardAdmin(_) => (&table, None, None, None),
            Command::Schema(_) | Command::Completions(_) => {
                let (p, a, l) = none;
                (&table, p, a, l)
            }
        };
        let api = api.cloned().unwrap_or_default();
        Global {
            pricing: pricing.and_then(|p| p.pricing.clone()),
            pricing_overlays: pricing
                .map(|p| p.pricing_overlays.clone())
                .unwrap_or_default(),
            format: output.format,
            api_url: api.api_url,
            api_key_file: api.api_key_file,
            auth: api.auth,
            offline: api.offline,
            retries: api.retries,
            timeout: api.timeout,
            redis: ledger.and_then(|l| l.redis.clone()),
            quiet: self.quiet.quiet,
        }
    }
}

pub use crate::pricing::{Billing, OverageRate};
pub use crate::report::Format;
pub use crate::schema::{Draft, Output};

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
value_enum!(Draft { V2020_12 => "2020-12", V7 => "7" });
value_enum!(Output {
    Plan => "plan",
    Balance => "balance",
    Overage => "overage",
    Forecast => "forecast",
    Reconcile => "reconcile",
    Prices => "prices",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Auth {
    Header,
    Query,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Forecast what workflows cost and compare with the balance when one is known.
    #[command(after_long_help = PLAN_HELP)]
    Plan(PlanArgs),
    /// Like plan, but a balance is required: exits 3 when none is known (a CI gate).
    #[command(after_long_help = CHECK_HELP)]
    Check(PlanArgs),
    /// The active pricing: endpoint catalogue and overage tiers.
    #[command(after_long_help = PRICES_HELP)]
    Prices(PricesArgs),
    /// The live subscription: status, units left, used, expiry.
    #[command(after_long_help = BALANCE_HELP)]
    Balance(BalanceArgs),
    /// A local API proxy that enforces a unit budget and the rate limit at run time.
    #[command(after_long_help = GUARD_HELP)]
    Guard(GuardArgs),
    /// Raise a running guard's budget, or approve or deny a call waiting for approval.
    #[command(name = "guard-admin", after_long_help = GUARD_ADMIN_HELP)]
    GuardAdmin(GuardAdminArgs),
    /// Finance: the overage cost for a tier and a usage, or a table across every tier.
    #[command(after_long_help = OVERAGE_HELP)]
    Overage(OverageArgs),
    /// Finance: scheduled workflows projected to the end of the billing period.
    #[command(after_long_help = FORECAST_HELP)]
    Forecast(ForecastArgs),
    /// One self-contained HTML page: verdict, balance, steps, forecast, overage, reconciliation.
    #[command(after_long_help = REPORT_HELP)]
    Report(ReportArgs),
    /// Run a command only when the workflows fit the balance, holding a reservation while it runs.
    #[command(after_long_help = GATE_HELP)]
    Gate(GateArgs),
    /// Reservations held by running gates and guards (all accounts on this machine, or in --redis).
    #[command(after_long_help = RESERVATIONS_HELP)]
    Reservations(ReservationsArgs),
    /// Forecast against actual: a saved plan (`plan --format json`) against the guard's journals.
    #[command(after_long_help = RECONCILE_HELP)]
    Reconcile(ReconcileArgs),
    /// Measure what the API really bills: one small call per endpoint, by the settled balance.
    #[command(after_long_help = CALIBRATE_HELP)]
    Calibrate(CalibrateArgs),
    /// Print the JSON Schema of the workflow file (draft 2020-12, or draft-07 for editors), or of a
    /// command's JSON output.
    #[command(after_long_help = SCHEMA_HELP)]
    Schema(SchemaArgs),
    /// Print a shell completion script.
    #[command(after_long_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
}

/// What `budget prices` takes.
#[derive(Debug, Clone, Args)]
pub struct PricesArgs {
    #[command(flatten)]
    pub output: FormatFlag,
    #[command(flatten)]
    pub pricing: PricingFlag,
}

/// What `budget balance` takes.
#[derive(Debug, Clone, Args)]
pub struct BalanceArgs {
    #[command(flatten)]
    pub output: FormatFlag,
    #[command(flatten)]
    pub api: ApiFlags,
}

/// What `budget reservations` takes.
#[derive(Debug, Clone, Args)]
pub struct ReservationsArgs {
    #[command(flatten)]
    pub output: FormatFlag,
    #[command(flatten)]
    pub ledger: RedisFlag,
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

/// What `budget schema` takes.
#[derive(Debug, Clone, Args)]
pub struct SchemaArgs {
    /// JSON Schema draft of the workflow schema: 2020-12, or 7 for the YAML language server
    /// (docs/editors.md). The output schemas are 2020-12 only.
    #[arg(long, value_enum, default_value_t = Draft::V2020_12, value_name = "DRAFT")]
    pub draft: Draft,
    /// Print the schema of a command's JSON output instead (plan's also covers check and gate;
    /// docs/json.md).
    #[arg(long, value_enum, value_name = "OUTPUT")]
    pub output: Option<Output>,
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
    /// A usage profile (`reconcile --write-profile`): its p90 rows per target become the
    /// expected_rows of steps that state none. The worst case never changes.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    #[command(flatten)]
    pub shared: Shared,
}

/// What `budget guard` takes.
#[derive(Debug, Clone, Args)]
pub struct GuardArgs {
    /// Address to listen on; an address other than loopback needs --client-token-file.
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR:PORT")]
    pub listen: String,
    /// Units the guarded calls may spend in total (else the live units_left minus --reserve).
    /// A guard joining a shared budget in Redis keeps that budget's figure and warns.
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
    /// File holding a token every client must send (X-Budget-Token, or Authorization: Bearer or Token).
    #[arg(long, value_name = "FILE")]
    pub client_token_file: Option<std::path::PathBuf>,
    /// Longest a call waits for a slot in the rate window before a 503, in seconds.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub max_wait: f64,
    /// Most calls waiting for a slot at once; more get a 503 straight away.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub max_queue: usize,
    /// Start a fresh budget: ignore what the journal says was spent (in Redis: replace the
    /// shared budget). Once, by hand; never in a unit that restarts.
    #[arg(long)]
    pub new_budget: bool,
    /// Most client connections open at once; at the cap an idle one makes room, else 503.
    #[arg(long, default_value_t = 512, value_name = "N")]
    pub max_connections: usize,
    /// Once stopping, how long calls in flight may take to finish before the guard exits.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub grace: f64,
    /// Milliseconds added to the API's one-second rate window, for network jitter.
    #[arg(long, default_value_t = 25, value_name = "MS")]
    pub rate_margin: u64,
    /// Serve /metrics (Prometheus), /healthz and /budget/status on this address too (its own
    /// listener; an address other than loopback needs --metrics-token-file).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<String>,
    /// File holding the token scrapers send to the metrics listener (Authorization: Bearer).
    #[arg(long, value_name = "FILE")]
    pub metrics_token_file: Option<std::path::PathBuf>,
    /// Price, pace and record every call but never refuse one for the budget (journal and
    /// metrics say which would have been refused): for rolling a budget out on a running job.
    #[arg(long)]
    pub shadow: bool,
    /// Clients by name, each with its own token, optional budget and share of the rate (YAML).
    #[arg(long, value_name = "FILE", conflicts_with = "client_token_file")]
    pub clients: Option<std::path::PathBuf>,
    /// Alert when these shares of the budget are spent, once each per budget (default with a
    /// webhook or command: 50%,80%,95%).
    #[arg(long, value_name = "P%,P%,...")]
    pub alert_at: Option<String>,
    /// POST each alert as JSON to this URL (a Slack or Mattermost incoming webhook works as is);
    /// the environment keeps its secret path off the command line.
    #[arg(
        long,
        value_name = "URL",
        env = "BUDGET_ALERT_WEBHOOK",
        hide_env_values = true
    )]
    pub alert_webhook: Option<String>,
    /// Run this program for each alert (no shell; words split on spaces), the alert's fields in
    /// BUDGET_ALERT_* environment variables.
    #[arg(long, value_name = "CMD")]
    pub alert_command: Option<String>,
    /// File holding the admin token (never a client's): opens /budget/admin/ for
    /// `budget guard-admin` (raise the budget, approve calls).
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<std::path::PathBuf>,
    /// A call priced above N units waits for an operator's approval (402 with an approval id).
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub approval_above: Option<u64>,
    /// A call that would take the units spent past N waits for an operator's approval.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub soft_budget: Option<u64>,
    /// How often the dashboard (/budget/) refreshes its figures, in whole seconds (1 to 3600).
    #[arg(long, default_value_t = u64::from(crate::guard::dashboard::Refresh::DEFAULT_SECONDS), value_name = "SECONDS")]
    pub dashboard_refresh: u64,
    #[command(flatten)]
    pub shared: Shared,
}

/// What `budget guard-admin` takes.
#[derive(Debug, Clone, Args)]
pub struct GuardAdminArgs {
    /// The guard's address (its --listen).
    #[arg(
        long,
        env = "BUDGET_GUARD_URL",
        hide_env_values = true,
        default_value = "http://127.0.0.1:8787",
        value_name = "URL",
        global = true
    )]
    pub guard: String,
    /// File holding the guard's admin token (its --admin-token-file).
    #[arg(
        long,
        env = "BUDGET_ADMIN_TOKEN_FILE",
        hide_env_values = true,
        value_name = "FILE",
        global = true
    )]
    pub admin_token_file: Option<PathBuf>,
    /// Who is asking, for the journal (default: your login name).
    #[arg(long = "as", value_name = "NAME", global = true)]
    pub operator: Option<String>,
    /// Output format: lines for people, or the guard's answer as JSON.
    #[arg(long, value_enum, default_value_t = AdminFormat::Table, global = true)]
    pub format: AdminFormat,
    #[command(subcommand)]
    pub action: GuardAdminAction,
}

/// `budget guard-admin`'s outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AdminFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Subcommand)]
pub enum GuardAdminAction {
    /// Raise the running budget (journaled; kept across restarts; once for all guards in Redis).
    Raise {
        /// Units to add.
        #[arg(long, value_name = "N", value_parser = parse_count, required_unless_present_any = ["to", "approve"], conflicts_with_all = ["to", "approve"])]
        by: Option<u64>,
        /// The new budget figure (no lower than it is).
        #[arg(long, value_name = "N", value_parser = parse_count, conflicts_with = "approve")]
        to: Option<u64>,
        /// Grant exactly the waiting call with this approval id instead (the same as
        /// `guard-admin approve ID`).
        #[arg(long, value_name = "ID")]
        approve: Option<String>,
    },
    /// Grant exactly one waiting call: its client's retry of the same call passes once.
    Approve {
        /// The approval id from the call's 402 (`approval_id`).
        id: String,
    },
    /// Refuse a waiting call (the same call is refused for 15 minutes).
    Deny {
        /// The approval id from the call's 402 (`approval_id`).
        id: String,
    },
    /// The calls waiting for approval, approved or denied.
    Approvals,
}

/// What `budget reconcile` takes.
#[derive(Debug, Clone, Args)]
pub struct ReconcileArgs {
    /// A saved `budget plan --format json` result.
    #[arg(value_name = "PLAN.json")]
    pub plan: PathBuf,
    /// The guard's call journals (`budget guard --journal FILE`), oldest first.
    #[arg(required = true, value_name = "JOURNAL")]
    pub journals: Vec<PathBuf>,
    /// Add the rows and pages per target the journals show to this usage profile (created when
    /// missing; a journal already in it is not added again).
    #[arg(long, value_name = "FILE")]
    pub write_profile: Option<PathBuf>,
    #[command(flatten)]
    pub output: FormatFlag,
    /// The catalogue tells which endpoints return rows and page (for --write-profile).
    #[command(flatten)]
    pub pricing: PricingFlag,
}

/// What `budget calibrate` takes.
#[derive(Debug, Clone, Args)]
pub struct CalibrateArgs {
    /// Catalogue endpoints to measure, e.g. backlinks/authority.
    #[arg(required = true, value_name = "ENDPOINT")]
    pub endpoints: Vec<String>,
    /// Most units calibration may spend: the catalogue's worst case of all its calls must fit,
    /// else nothing is sent (exit 1); calling stops once the units measured reach it.
    #[arg(long, required = true, value_name = "N", value_parser = parse_count)]
    pub max_units: u64,
    /// A target of every call (repeatable; default: seranking.com).
    #[arg(long = "target", value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Regional database of the endpoints that take one.
    #[arg(long, default_value = crate::calibrate::DEFAULT_SOURCE, value_name = "CODE")]
    pub source: String,
    /// Rows asked of row endpoints (the call's `limit`).
    #[arg(long, default_value_t = crate::calibrate::DEFAULT_ROWS, value_name = "N", value_parser = parse_count)]
    pub rows: u64,
    /// Longest wait for the balance to settle, before and after each call, in seconds.
    #[arg(long, default_value_t = 300.0, value_name = "SECS")]
    pub settle_timeout: f64,
    /// Time between two balance reads, in seconds. For tests: the live meter needs 30.
    #[arg(long, default_value_t = 30.0, value_name = "SECS", hide = true)]
    pub settle_interval: f64,
    /// Write the prices measured exactly as a pricing overlay (`evidence: measured`).
    #[arg(long, value_name = "FILE")]
    pub write_overlay: Option<PathBuf>,
    #[command(flatten)]
    pub output: FormatFlag,
    #[command(flatten)]
    pub pricing: PricingFlag,
    #[command(flatten)]
    pub api: ApiFlags,
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
    #[command(flatten)]
    pub output: FormatFlag,
    #[command(flatten)]
    pub pricing: PricingFlag,
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
    /// Also write a burn-up chart to this SVG file: cumulative projected units against units_left.
    #[arg(long, value_name = "FILE.svg")]
    pub chart: Option<PathBuf>,
    #[command(flatten)]
    pub shared: Shared,
}

/// What `budget report` takes: the plan's and the forecast's inputs, and where the page goes.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Workflow files.
    #[arg(required = true, value_name = "WORKFLOW")]
    pub workflows: Vec<PathBuf>,
    /// The HTML file to write (replaced when it exists; written whole or not at all).
    #[arg(long, short, required = true, value_name = "FILE.html")]
    pub output: PathBuf,
    /// The balance to plan and project against; makes no API call for it.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub units_left: Option<u64>,
    /// Units to keep untouched by the plan: a count (`50k`) or a percentage of units_left (`10%`).
    #[arg(long, value_name = "N|P%")]
    pub reserve: Option<String>,
    /// End of the billing period (else the live subscription's expiry), UTC; without either the
    /// page has no forecast section.
    #[arg(long, value_name = "DATETIME", value_parser = crate::finance::parse_datetime)]
    pub period_end: Option<chrono::NaiveDateTime>,
    /// The clock to project from (default: now), UTC; e.g. 2026-11-26T00:00:00Z or 2026-11-26.
    #[arg(long, value_name = "DATETIME", value_parser = crate::finance::parse_datetime)]
    pub now: Option<chrono::NaiveDateTime>,
    /// A guard call journal (`budget guard --journal FILE`) to reconcile; repeatable, oldest first.
    #[arg(long = "journal", value_name = "FILE")]
    pub journals: Vec<PathBuf>,
    /// Fail (exit 1) when the plan's verdict relies on a price that is assumed or disputed.
    #[arg(long)]
    pub strict_prices: bool,
    /// The plan saved before the run (`budget plan` as JSON) to reconcile the journals with;
    /// default: the plan this page shows.
    #[arg(long, value_name = "PLAN.json", requires = "journals")]
    pub plan: Option<PathBuf>,
    #[command(flatten)]
    pub pricing: PricingFlag,
    #[command(flatten)]
    pub api: ApiFlags,
    #[command(flatten)]
    pub ledger: RedisFlag,
}

// Long help (`--help`, not `-h`): an example and the exit codes of each command, with the
// meanings of `crate::error::exit` (docs/reference.md "Exit codes").

const MAIN_HELP: &str = "\
Examples:
  budget plan workflows/docs-example.yaml --units-left 30000
  budget check workflows/*.yaml --reserve 10%          # in CI: exit 1 when over budget
  budget gate workflows/backlink-audit.yaml -- ./jobs/nightly.sh

Exit codes: 0 fits · 1 over budget · 2 bad input · 3 balance unknown · 4 output not written ·
5 gate/guard could not do its own work. `budget COMMAND --help` tells each command's.";

const PLAN_HELP: &str = "\
Examples:
  budget plan workflows/docs-example.yaml
  budget plan workflows/*.yaml --units-left 250k --reserve 10% --format markdown
  budget plan workflows/*.yaml --offline --format json > baseline.json
  budget plan workflows/*.yaml --compare-to baseline.json --max-increase 20%

Exit codes:
  0  fits, or no balance known (no key, --offline)
  1  over budget: the total above the usable balance, a workflow above its budget.max_units,
     or the increase above --max-increase
  2  bad input: a workflow, the pricing file, a flag, the baseline file
  3  a key is set but the balance could not be read, or the reservation ledger is unusable
  4  the report could not be written";

const CHECK_HELP: &str = "\
Examples:
  budget check workflows/*.yaml --reserve 10%
  budget check workflows/*.yaml --units-left 1.5M --format markdown >> \"$GITHUB_STEP_SUMMARY\"

Exit codes:
  0  fits
  1  over budget (as plan), or the increase above --max-increase
  2  bad input: a workflow, the pricing file, a flag, the baseline file
  3  no balance known (fails closed), the API or the key failed, or the ledger is unusable
  4  the report could not be written";

const GATE_HELP: &str = "\
Examples:
  budget gate workflows/backlink-audit.yaml --reserve 10% -- ./jobs/nightly.sh
  budget gate workflows/backlink-audit.yaml --max-overage-usd 25 -- ./jobs/nightly.sh --full

Exit codes:
  n    the command's own exit code (128 + N when signal N ended it)
  1    over budget: the command was not run
  2    bad input: a workflow, the pricing file, a flag; nothing to run
  3    no balance known, the API or the key failed, or the ledger is unusable
  4    the report could not be written
  5    the gate could not do its own work (signal handlers, waiting for the command)
  126  the command cannot be executed
  127  the command does not exist";

const BALANCE_HELP: &str = "\
Examples:
  budget balance                  # the key in SERANKING_API_KEY
  budget balance --api-key-file ~/.config/seranking.key --format json

Exit codes:
  0  the subscription was read
  2  bad settings: --api-url, --timeout, --offline
  3  the API or the key failed (the message says which and what to do)
  4  the report could not be written";

const RECONCILE_HELP: &str = "\
Examples:
  budget plan audit.yaml --format json > audit.plan.json
  budget guard --budget 250k --journal calls.jsonl      # the job tags its calls:
                                                        # X-Budget-Workflow, X-Budget-Step
  budget reconcile audit.plan.json calls.jsonl
  budget reconcile audit.plan.json calls.jsonl --write-profile audit.profile.yaml

Exit codes:
  0  the forecast held: every step and the total charged at most its worst case
  1  a step, an endpoint row, unplanned calls or the total charged more than forecast
  2  bad input: the plan, a journal, the usage profile
  4  the report could not be written";

const CALIBRATE_HELP: &str = "\
Examples:
  budget calibrate backlinks/authority --max-units 100
  budget calibrate backlinks/authority backlinks/summary --target example.com --target example.org \\
      --max-units 500 --write-overlay measured.yaml

It reads the balance until it settles (every 30 s; the live meter shows a call 20-60 s late),
makes one call per endpoint and reads the balance again: expect about two minutes per endpoint.
Other jobs using the same API key meanwhile spoil the measurement.

Exit codes:
  0  every endpoint was measured (agreeing with the catalogue or not: the table says)
  1  refused, nothing sent: the catalogue's worst case is above --max-units or the balance
  2  bad input: an endpoint, a flag, --offline, the pricing file
  3  the key or the API failed, or an endpoint could not be measured (the balance did not
     settle, the call was refused)
  4  the report could not be written";

const PRICES_HELP: &str = "\
Examples:
  budget prices
  budget prices --pricing my-contract.yaml --format csv

Exit codes:
  0  printed
  2  the pricing file is unreadable or invalid
  4  the report could not be written";

const OVERAGE_HELP: &str = "\
Examples:
  budget overage --tier 1M --usage 1.5M
  budget overage --tier 3M --billing yearly --rate addon --units 1.25M
  budget overage --tier enterprise --usd-per-million 3.10 --units 2.5M
  budget overage --all-tiers --usage 2.5M --tier 2M --format csv

Exit codes:
  0  printed
  2  bad input: an unknown tier, a missing enterprise rate, the pricing file
  4  the report could not be written";

const FORECAST_HELP: &str = "\
Examples:
  budget forecast workflows/finance-daily-report.yaml --units-left 100k \\
      --now 2026-11-26 --period-end 2026-12-26 --chart forecast.svg
  budget forecast workflows/*.yaml --format csv         # live balance and period end

Exit codes:
  0  the balance lasts to the period end, or no balance known
  1  the balance runs out before the period end
  2  bad input: a workflow, a date, the period end unknown, the pricing file, the chart file
  3  a key is set but the balance could not be read, or the ledger is unusable
  4  the report could not be written";

const REPORT_HELP: &str = "\
Examples:
  budget report workflows/*.yaml --output report.html      # live balance and period end
  budget report workflows/finance-daily-report.yaml --units-left 100k \\
      --now 2026-11-26 --period-end 2026-12-26 --output report.html
  budget report audit.yaml --output run.html --plan audit.plan.json --journal calls.jsonl

The page is one HTML file with nothing to fetch and no script: open it in any browser, print
it, or mail it. Its figures are those of plan, forecast, overage --all-tiers and reconcile.

Exit codes:
  0  written; the plan fits, the balance lasts to the period end (or no balance known)
  1  written; but over budget, the balance runs out before the period end, or a step
     charged more than its forecast
  2  bad input: a workflow, a date, a flag, the pricing file, the plan or a journal
  3  a key is set but the balance could not be read, or the reservation ledger is unusable
  4  the page could not be written";

const GUARD_HELP: &str = "\
Examples:
  budget guard --budget 50k --journal calls.jsonl &
  SERANKING_API_URL=http://127.0.0.1:8787 ./jobs/nightly.sh
  budget guard --budget 2M --journal calls.jsonl --metrics-listen 127.0.0.1:9187 \\
    --alert-webhook \"$SLACK_WEBHOOK\" --alert-at 50%,80%,95%
  budget guard --budget 2M --journal calls.jsonl --shadow      # record what would be refused
  budget guard --budget 2M --journal calls.jsonl --clients clients.yaml

Exit codes:
  0  stopped by SIGINT or SIGTERM (the spend by endpoint is printed)
  2  bad input: a flag, the API URL, the journal file, the pricing file
  3  the live balance could not be read, or the shared budget (Redis) is unreachable
  4  the report could not be written
  5  the guard could not do its own work (listen, serve)";

const GUARD_ADMIN_HELP: &str = "\
Examples:
  budget guard --budget 50k --journal calls.jsonl --admin-token-file admin.token --approval-above 5k
  budget guard-admin --admin-token-file admin.token raise --by 20k
  budget guard-admin --admin-token-file admin.token approvals
  budget guard-admin --admin-token-file admin.token approve 3fa9c2-1 --as alice

Exit codes:
  0  done
  2  bad input: a flag, the token file, or the guard refused (wrong token, unknown approval id,
     a raise --to below the budget)
  4  the answer could not be written
  5  the guard could not be reached, or could not do it (its shared state unreachable)";

const RESERVATIONS_HELP: &str = "\
Examples:
  budget reservations
  budget reservations --format json

Exit codes:
  0  listed
  3  the reservation ledger is unusable
  4  the report could not be written";

const SCHEMA_HELP: &str = "\
Examples:
  budget schema > workflow.schema.json
  budget schema --draft 7 > workflow.draft-07.schema.json   # for the YAML language server
  budget schema --output plan > plan.schema.json            # the JSON plan prints

Exit codes:
  0  printed
  2  a bad flag (--output with --draft 7)
  4  the schema could not be written";

const COMPLETIONS_HELP: &str = "\
Examples:
  budget completions bash > ~/.local/share/bash-completion/completions/budget
  budget completions zsh > \"${fpath[1]}/_budget\"
  budget completions fish > ~/.config/fish/completions/budget.fish

Exit codes:
  0  printed
  4  the script could not be written";
