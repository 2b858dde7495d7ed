//! The top-level error and its exit code: the one place failures become exit statuses.

use crate::account::AccountError;
use crate::baseline::BaselineError;
use crate::calibrate::CalibrateError;
use crate::estimate::EstimateError;
use crate::finance::FinanceError;
use crate::gate::GateError;
use crate::guard::GuardError;
use crate::ledger::LedgerError;
use crate::pricing::PricingError;
use crate::reconcile::profile::ProfileError;
use crate::reconcile::ReconcileError;
use crate::schema::SchemaError;
use crate::workflow::WorkflowError;

/// Exit status of a run that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Fits, or no balance to compare with.
    Ok,
    /// Over budget (or the balance runs out before the period ends).
    OverBudget,
    /// The exit code of a command run by `gate`.
    Child(u8),
}

impl Status {
    pub fn code(self) -> u8 {
        match self {
            Self::Ok => exit::OK,
            Self::OverBudget => exit::OVER_BUDGET,
            Self::Child(code) => code,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Pricing {
        #[from]
        source: PricingError,
    },
    #[error("{}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Workflows { errors: Vec<WorkflowError> },
    #[error(transparent)]
    Estimate {
        #[from]
        source: EstimateError,
    },
    #[error("{message}")]
    Usage { message: String },
    /// No balance to check against; `offline` when `--offline` was the reason (then setting a
    /// key would not help).
    #[error("{}", if *offline {
        "balance unknown: --offline reads no balance; pass --units-left N, or drop --offline to read it live"
    } else {
        "balance unknown: set SERANKING_API_KEY or pass --units-left"
    })]
    BalanceUnknown { offline: bool },
    #[error("cannot write output: {reason}")]
    Output { reason: String },
    #[error(transparent)]
    Account {
        #[from]
        source: AccountError,
    },
    #[error(transparent)]
    Baseline {
        #[from]
        source: BaselineError,
    },
    /// The ledger holds other jobs' reservations: without it, the usable balance is unknown.
    #[error(transparent)]
    Ledger {
        #[from]
        source: LedgerError,
    },
    #[error(transparent)]
    Gate {
        #[from]
        source: GateError,
    },
    #[error(transparent)]
    Guard {
        #[from]
        source: GuardError,
    },
    #[error(transparent)]
    Finance {
        #[from]
        source: FinanceError,
    },
    #[error(transparent)]
    Reconcile {
        #[from]
        source: ReconcileError,
    },
    #[error(transparent)]
    Profile {
        #[from]
        source: ProfileError,
    },
    #[error(transparent)]
    Calibrate {
        #[from]
        source: CalibrateError,
    },
    #[error(transparent)]
    Schema {
        #[from]
        source: SchemaError,
    },
    #[error(transparent)]
    Admin {
        #[from]
        source: crate::guard::admin_client::AdminError,
    },
}

/// Exit codes: the contract (docs/reference.md "Exit codes") in one table.
pub mod exit {
    /// Fits, or no balance to compare with.
    pub const OK: u8 = 0;
    /// Over budget (or `--max-increase` exceeded, or the balance runs out before the period end).
    pub const OVER_BUDGET: u8 = 1;
    /// Bad input: a workflow, pricing file, flag, baseline or setting to fix.
    pub const BAD_INPUT: u8 = 2;
    /// The balance cannot be known: the API, the key, or the reservation ledger failed.
    pub const BALANCE_UNKNOWN: u8 = 3;
    /// The report could not be written.
    pub const OUTPUT: u8 = 4;
    /// `gate` or `guard` could not do its own work: listen, serve, install signal handlers,
    /// wait for the command. Never 1, which means "over budget".
    pub const RUNTIME: u8 = 5;
}

impl Error {
    /// The message as a person reads it, one problem a line where the error lists several
    /// (each line is one problem's text; `report` neutralises each). A line that starts with
    /// spaces continues the one above it (a list item); any other is an error of its own.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Error::Guard {
                source: GuardError::Settings { problems },
            } => problems.iter().map(ToString::to_string).collect(),
            Error::Pricing {
                source: PricingError::Invalid { origin, problems },
            } => std::iter::once(format!("{origin}: invalid pricing file:"))
                .chain(problems.iter().map(|p| format!("  - {p}")))
                .collect(),
            Error::Calibrate {
                source: crate::calibrate::CalibrateError::Invalid { problems },
            } => std::iter::once("cannot calibrate:".to_string())
                .chain(problems.iter().map(|p| format!("  - {p}")))
                .collect(),
            other => vec![other.to_string().trim_end().to_string()],
        }
    }

    /// The one place an error becomes an exit code.
    pub fn exit_code(&self) -> u8 {
        use crate::gate::GateError as Ga;
        use crate::guard::GuardError as Gu;
        match self {
            Self::Pricing { .. }
            | Self::Workflows { .. }
            | Self::Estimate { .. }
            | Self::Usage { .. }
            | Self::Baseline { .. }
            | Self::Finance { .. }
            | Self::Reconcile { .. }
            | Self::Profile { .. }
            | Self::Schema { .. } => exit::BAD_INPUT,
            Self::BalanceUnknown { .. } | Self::Ledger { .. } => exit::BALANCE_UNKNOWN,
            Self::Output { .. } => exit::OUTPUT,
            Self::Calibrate { source } => match source {
                crate::calibrate::CalibrateError::Invalid { .. } => exit::BAD_INPUT,
                // The API or the meter failed us: what was measured is unknown.
                crate::calibrate::CalibrateError::Setup { .. }
                | crate::calibrate::CalibrateError::NotMeasured { .. } => exit::BALANCE_UNKNOWN,
            },
            Self::Account { source } => account_code(source),
            Self::Admin { source } if source.is_runtime() => exit::RUNTIME,
            Self::Admin { .. } => exit::BAD_INPUT,
            Self::Gate { source } => match source {
                // As shells do: 127 not found, 126 not executable, 2 nothing to run.
                Ga::Spawn { code, .. } => *code,
                Ga::Wait { .. } | Ga::Signals { .. } => exit::RUNTIME,
            },
            Self::Guard { source } => match source {
                // A journal the guard cannot write to at start is its own work failing.
                Gu::Journal {
                    source: crate::guard::journal::JournalError::Write { .. },
                } => exit::RUNTIME,
                Gu::Setting { .. }
                | Gu::Settings { .. }
                | Gu::ApiUrl { .. }
                | Gu::Journal { .. } => exit::BAD_INPUT,
                // The shared budget cannot be reached or known: as unknown as an unreadable
                // balance.
                Gu::State { .. }
                | Gu::SharedBudgetGone { .. }
                | Gu::SharedBudgetUnknown { .. }
                | Gu::Ledger { .. } => exit::BALANCE_UNKNOWN,
                Gu::Account { source } => account_code(source),
                Gu::Listen { .. } | Gu::Serve { .. } | Gu::Client { .. } => exit::RUNTIME,
            },
        }
    }
}

/// The exit code of an account failure.
fn account_code(source: &AccountError) -> u8 {
    match source {
        AccountError::InvalidUrl { .. } | AccountError::Setting { .. } => exit::BAD_INPUT,
        // Every other account failure leaves the balance unknown (a missing, empty or
        // unreadable key included): fail closed.
        _ => exit::BALANCE_UNKNOWN,
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::Output {
            reason: crate::io_reason(&e),
        }
    }
}
