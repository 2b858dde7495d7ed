//! `budget guard-admin`: reads the admin token, sends one request to a running guard's admin
//! endpoint (`guard::admin_client`), prints the answer (`report`). Orchestration only.

use crate::cli::{AdminFormat, Global, GuardAdminAction, GuardAdminArgs};
use crate::guard::admin_client::{self, AdminCall, AdminError};
use crate::guard::state::Raise;
use crate::{report, Error, Status};

pub fn run(_global: &Global, args: &GuardAdminArgs) -> Result<Status, Error> {
    let token = match &args.admin_token_file {
        Some(path) => admin_client::token(path)?,
        None => {
            return Err(AdminError::Token {
                reason: "the admin endpoint needs the guard's admin token: pass --admin-token-file FILE (or BUDGET_ADMIN_TOKEN_FILE), the file the guard was started with".into(),
            }
            .into())
        }
    };
    // Who is asking: --as, else the login name (recorded in the guard's journal).
    let operator = args
        .operator
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| "unknown".into());
    let call = match &args.action {
        GuardAdminAction::Raise {
            approve: Some(id), ..
        } => AdminCall::Approve {
            id: id.clone(),
            operator,
        },
        GuardAdminAction::Raise { by, to, .. } => AdminCall::Raise {
            raise: match (by, to) {
                (Some(by), _) => Raise::By(*by),
                (None, Some(to)) => Raise::To(*to),
                (None, None) => {
                    return Err(Error::Usage {
                        message: "raise needs --by N or --to N".into(),
                    })
                }
            },
            operator,
        },
        GuardAdminAction::Approve { id } => AdminCall::Approve {
            id: id.clone(),
            operator,
        },
        GuardAdminAction::Deny { id } => AdminCall::Deny {
            id: id.clone(),
            operator,
        },
        GuardAdminAction::Approvals => AdminCall::List,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AdminError::Unreachable {
            url: args.guard.clone(),
            reason: crate::io_reason(&e),
        })?;
    let answer = runtime.block_on(admin_client::send(&args.guard, &token, &call))?;
    let format = match args.format {
        AdminFormat::Table => report::Format::Table,
        AdminFormat::Json => report::Format::Json,
    };
    super::to_stdout(|out| report::guard_admin(out, format, &answer))?;
    Ok(Status::Ok)
}
