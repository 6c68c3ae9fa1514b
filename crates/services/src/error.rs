//! The services' one error path: `ServiceError` for use cases called by a front end, and the
//! one mapping from what fails below (store, vault, connectors) to a task's failure, so each
//! task handler does not decide retryability on its own.

use castellan_domain::FieldError;
use castellan_domain::platform::ConnectorError;
use castellan_domain::tasks::TaskFailure;
use castellan_store::StoreError;
use castellan_vault::VaultError;

/// Why a use case refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Invalid(FieldError),
    /// The input is well-formed but disagrees with what the workspace holds.
    #[error("{0}")]
    Conflict(FieldError),
    /// A record the input names (by `field`) does not exist in the workspace.
    #[error("{what} not found")]
    NotFound {
        field: &'static str,
        what: &'static str,
    },
    /// Allowed by the caller's workspace role, but not by their role on this record.
    #[error("{0}")]
    Forbidden(String),
    /// Well-formed but not proven (a wrong current password), naming the field.
    #[error("{0}")]
    ForbiddenAt(FieldError),
    /// Wrong credentials: nothing says which part was wrong.
    #[error("the e-mail or password is wrong")]
    Unauthenticated,
    /// Too many failed sign-ins for this e-mail; try again after this many seconds.
    #[error("too many failed sign-ins; try again in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// A sealed secret did not open (wrong or retired master key, or tampered data).
    #[error("vault: {0}")]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something that should not fail did (a worker thread died, say).
    #[error("{0}")]
    Internal(anyhow::Error),
}

impl From<FieldError> for ServiceError {
    fn from(e: FieldError) -> Self {
        Self::Invalid(e)
    }
}

/// How an error below the services fails a task: worth retrying later, or not.
pub trait AsTaskFailure {
    fn task_failure(&self) -> TaskFailure;
}

impl AsTaskFailure for StoreError {
    /// A missing row, corrupt data, bad input or a conflict does not heal by waiting; a
    /// database or connection error may, and so may a lost lease (another worker took the
    /// task over; this one's ending is refused anyway).
    fn task_failure(&self) -> TaskFailure {
        match self {
            StoreError::Database(_) | StoreError::Bulk(_) => {
                TaskFailure::Retryable(self.to_string())
            }
            StoreError::Conflict { field, .. } if field == "lease" => {
                TaskFailure::Retryable(self.to_string())
            }
            StoreError::NotFound(_)
            | StoreError::Conflict { .. }
            | StoreError::Invalid(_)
            | StoreError::Corrupt(_)
            | StoreError::Migrate(_) => TaskFailure::Permanent(self.to_string()),
        }
    }
}

impl AsTaskFailure for VaultError {
    /// A secret that does not open today will not open tomorrow with the same keys.
    fn task_failure(&self) -> TaskFailure {
        TaskFailure::Permanent(format!("vault: {self}"))
    }
}

impl AsTaskFailure for ConnectorError {
    fn task_failure(&self) -> TaskFailure {
        if self.is_retryable() {
            TaskFailure::Retryable(self.to_string())
        } else {
            TaskFailure::Permanent(self.to_string())
        }
    }
}

impl AsTaskFailure for ServiceError {
    fn task_failure(&self) -> TaskFailure {
        match self {
            ServiceError::Store(e) => e.task_failure(),
            ServiceError::Vault(e) => e.task_failure(),
            other => TaskFailure::Permanent(other.to_string()),
        }
    }
}

/// `result.task()?` in a task handler: the error mapped by [`AsTaskFailure`].
pub trait TaskResult<T> {
    fn task(self) -> Result<T, TaskFailure>;
}

impl<T, E: AsTaskFailure> TaskResult<T> for Result<T, E> {
    fn task(self) -> Result<T, TaskFailure> {
        self.map_err(|e| e.task_failure())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_fail_tasks_by_whether_waiting_helps() {
        let retry = |e: StoreError| matches!(e.task_failure(), TaskFailure::Retryable(_));
        assert!(retry(StoreError::conflict("lease", "lease lost")));
        assert!(!retry(StoreError::NotFound("app")));
        assert!(!retry(StoreError::Corrupt("x".into())));
        assert!(!retry(StoreError::conflict(
            "status",
            "only an open report"
        )));
        assert!(matches!(
            ConnectorError::Unavailable("503".into()).task_failure(),
            TaskFailure::Retryable(_)
        ));
        assert!(matches!(
            ConnectorError::Protocol("/x: missing field".into()).task_failure(),
            TaskFailure::Permanent(_)
        ));
    }
}
