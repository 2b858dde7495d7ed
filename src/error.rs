//! The top-level error and its exit code: the one place failures become exit statuses.

use crate::account::AccountError;
use crate::baseline::BaselineError;
use crate::forecast::ForecastError;
use crate::gate::GateError;
use crate::guard::GuardError;
use crate::ledger::LedgerError;
use crate::pricing::PricingError;
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
            Self::Ok => 0,
            Self::OverBudget => 1,
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
    Forecast {
        #[from]
        source: ForecastError,
    },
    #[error("{message}")]
    Usage { message: String },
    #[error("balance unknown: set SERANKING_API_KEY or pass --units-left")]
    BalanceUnknown,
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
}

impl Error {
    /// 2 for bad input, 3 when the balance cannot be known, 4 when output cannot be written.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Pricing { .. } | Self::Workflows { .. } | Self::Forecast { .. } => 2,
            Self::Usage { .. } | Self::Baseline { .. } => 2,
            Self::BalanceUnknown => 3,
            Self::Output { .. } => 4,
            Self::Account { source } => source.exit_code(),
            Self::Ledger { .. } => 3,
            Self::Gate { source } => source.exit_code(),
            Self::Guard { source } => source.exit_code(),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::Output {
            reason: crate::io_reason(&e),
        }
    }
}
