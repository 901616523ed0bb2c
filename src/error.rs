//! The one error type of the service and its single, exhaustive mapping to
//! `tonic::Status`. Internal details are logged here and never reach clients.

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::{access::Denial, validation::Violations};

/// Everything that can go wrong in a request, at the granularity clients act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The request is wrong whatever the state: each violation names its field.
    #[error("{0}")]
    InvalidArgument(Violations),
    /// The named resource does not exist (or is hidden, such as a deleted article).
    #[error("{0}")]
    NotFound(String),
    /// A resource with the same unique key already exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// The resource is in the wrong state for this request.
    #[error("{description}")]
    FailedPrecondition {
        /// A SCREAMING_SNAKE_CASE tag for the violated precondition.
        kind: &'static str,
        /// What the precondition is about, such as `authors/<id>`.
        subject: String,
        /// A sentence a person can act on.
        description: String,
    },
    /// The client's etag is stale: someone else changed the resource first.
    #[error("{0}")]
    Aborted(String),
    /// The request's deadline passed before its write could commit; nothing
    /// of it was kept.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// A dependency (the database) cannot be reached, or the server is
    /// stopping; retrying may help.
    #[error("{0}")]
    Unavailable(String),
    /// The request needs an API key, and has none that is valid.
    #[error("{0}")]
    Unauthenticated(String),
    /// The API key is valid, but its role may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// Too many requests: the caller may try again after `retry_after`.
    #[error("{message}")]
    ResourceExhausted {
        message: String,
        retry_after: std::time::Duration,
    },
    /// A bug or an unexpected failure; logged, never shown to clients.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The error for a call `denial` refuses; `what` names the resource for
    /// NOT_FOUND (`article <id>`).
    pub fn refused(denial: Denial, what: &str) -> Self {
        match denial {
            Denial::Unauthenticated => Error::Unauthenticated(
                "this request needs an API key: send `authorization: Bearer <token>`".into(),
            ),
            Denial::PermissionDenied(reason) => Error::PermissionDenied(reason.into()),
            Denial::NotFound => Error::NotFound(format!("{what} does not exist")),
        }
    }

    /// Prefixes the field paths of an `InvalidArgument` with the request field
    /// that holds the resource (`title` becomes `article.title`).
    pub fn within(self, prefix: &str) -> Self {
        match self {
            Error::InvalidArgument(violations) => Error::InvalidArgument(violations.within(prefix)),
            other => other,
        }
    }
}

impl From<Violations> for Error {
    fn from(violations: Violations) -> Self {
        Error::InvalidArgument(violations)
    }
}

impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidArgument(violations) => {
                let mut details = ErrorDetails::new();
                for violation in violations.iter() {
                    details.add_bad_request_violation(&violation.field, &violation.description);
                }
                tonic::Status::with_error_details(
                    Code::InvalidArgument,
                    violations.to_string(),
                    details,
                )
            }
            Error::NotFound(message) => tonic::Status::not_found(message),
            Error::AlreadyExists(message) => tonic::Status::already_exists(message),
            Error::FailedPrecondition {
                kind,
                subject,
                description,
            } => tonic::Status::with_error_details(
                Code::FailedPrecondition,
                description.clone(),
                ErrorDetails::with_precondition_failure_violation(kind, subject, description),
            ),
            Error::Aborted(message) => tonic::Status::aborted(message),
            Error::DeadlineExceeded(message) => tonic::Status::deadline_exceeded(message),
            Error::Unavailable(cause) => {
                tracing::warn!(%cause, "request failed: unavailable");
                tonic::Status::unavailable("the service is unavailable; retry later")
            }
            Error::Unauthenticated(message) => tonic::Status::unauthenticated(message),
            Error::PermissionDenied(message) => tonic::Status::permission_denied(message),
            Error::ResourceExhausted {
                message,
                retry_after,
            } => tonic::Status::with_error_details(
                Code::ResourceExhausted,
                message,
                ErrorDetails::with_retry_info(Some(retry_after)),
            ),
            Error::Internal(cause) => {
                tracing::error!(%cause, "request failed: internal error");
                tonic::Status::internal("internal error")
            }
        }
    }
}
