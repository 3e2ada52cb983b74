//! The one error type of request handling, and the one place where it becomes a GraphQL
//! error with a stable `extensions.code`.
//!
//! Codes are API (clients switch on them); messages are for people. Database errors are
//! classified here and nowhere else: constraint violations become the client's error,
//! connection trouble `SERVICE_UNAVAILABLE`, anything else `INTERNAL_SERVER_ERROR` with a
//! generic message (the cause is logged once, here, never sent).

use sea_orm::DbErr;

use crate::auth::Access;
use crate::db::{server_error, sqlstate, sqlx_error};

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Deliberately not `Display`: async-graphql converts any `Display` type into an error
/// with no `extensions.code`, and `?` would pick that conversion silently. Without
/// `Display`, the only way out of a resolver is the `From` impl at the end of this file.
#[derive(Debug)]
pub enum ApiError {
    /// The request is well-formed GraphQL but a value in it is not acceptable: an id that is
    /// not a UUID, a cursor that does not decode, a page size out of range, a value a
    /// constraint rejects. `field` names the argument or input field when there is one.
    /// `index`: which input of a batch (`recordBacktestRuns`) it is about.
    BadUserInput { message: String, field: Option<String>, index: Option<usize> },
    /// The request contradicts what is stored (e.g. an id that exists with other content).
    Conflict { message: String, field: Option<String>, index: Option<usize> },
    /// The operation needs a token and the request carried none.
    Unauthenticated(String),
    /// The request's token does not allow the operation.
    Forbidden(String),
    /// The database cannot be reached or has no free connection; retrying later may work.
    ServiceUnavailable(DbErr),
    /// PostgreSQL cancelled a statement that ran past the statement timeout.
    Timeout(DbErr),
    /// A bug or an unexpected database failure. The client sees only a generic message.
    Internal(DbErr),
}

impl ApiError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadUserInput { message: message.into(), field: Some(field.into()), index: None }
    }

    /// A value the client sent that is fine by itself but no field in particular.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadUserInput { message: message.into(), field: None, index: None }
    }

    /// The error as it concerns input `i` of a batch: `extensions.index`, and the message
    /// says which input.
    pub fn at(self, i: usize) -> Self {
        match self {
            ApiError::BadUserInput { message, field, .. } => {
                ApiError::BadUserInput { message: format!("inputs[{i}]: {message}"), field, index: Some(i) }
            }
            ApiError::Conflict { message, field, .. } => {
                ApiError::Conflict { message: format!("inputs[{i}]: {message}"), field, index: Some(i) }
            }
            other => other,
        }
    }

    /// Why a request with these credentials may not do what it asked.
    pub fn access_denied(access: Access) -> Self {
        match access {
            Access::Anonymous => ApiError::Unauthenticated(
                "this operation needs a token: send the header `Authorization: Bearer <token>`".into(),
            ),
            Access::Invalid => ApiError::Forbidden("the bearer token is not valid".into()),
            Access::Read | Access::Write => ApiError::Forbidden("this token may read but not write".into()),
        }
    }

    /// The message the client sees.
    pub fn message(&self) -> String {
        match self {
            ApiError::BadUserInput { message, .. } => message.clone(),
            ApiError::Conflict { message, .. } => message.clone(),
            ApiError::Unauthenticated(message) | ApiError::Forbidden(message) => message.clone(),
            ApiError::ServiceUnavailable(_) => "the database is unavailable; try again shortly".into(),
            ApiError::Timeout(_) => {
                "the query ran past the statement timeout and was cancelled; ask for less (a smaller page, a narrower filter)"
                    .into()
            }
            ApiError::Internal(_) => "internal error".into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadUserInput { .. } => "BAD_USER_INPUT",
            ApiError::Conflict { .. } => "CONFLICT",
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::ServiceUnavailable(_) => "SERVICE_UNAVAILABLE",
            ApiError::Timeout(_) => "TIMEOUT",
            ApiError::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }
}

/// Trouble with the server rather than the statement: no connection, a connection lost,
/// the server shutting down or out of resources. Another server (the primary, for a
/// replica) may well answer.
pub fn unavailable(err: &DbErr) -> bool {
    if matches!(err, DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) {
        return true;
    }
    match sqlstate(err).as_deref() {
        // Connection exceptions (08), authentication (28), a missing database (3D),
        // insufficient resources (53), operator intervention such as a shutdown or crash
        // recovery (57P).
        Some(s) => ["08", "28", "3D", "53", "57P"].iter().any(|class| s.starts_with(class)),
        None => is_io_error(err),
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        if unavailable(&err) {
            return ApiError::ServiceUnavailable(err);
        }
        match sqlstate(&err).as_deref() {
            Some("23505") => {
                ApiError::Conflict { message: conflict_message(&err), field: Some("id".into()), index: None }
            }
            Some("23514") => constraint_message(&err)
                .map(|(field, msg)| ApiError::bad_input(field, msg))
                .unwrap_or(ApiError::bad_request("a value is out of its allowed range")),
            Some("23503") => ApiError::bad_input("originalRunId", "originalRunId names no stored run"),
            Some("22003") => ApiError::bad_request("a numeric value is too large for its column"),
            // A NUL character in text or JSON, which PostgreSQL cannot store.
            Some("22021" | "22P05") => ApiError::bad_request("text must not contain the NUL character (\\u0000)"),
            // An SQL/JSON path the client sent (`filter.configPath`) that PostgreSQL cannot
            // parse: the only jsonpath text any statement carries is the client's.
            Some("42601" | "22P02" | "2203A" | "2203B" | "2203C" | "22033" | "22032" | "22038")
                if server_error(&err).is_some_and(|e| e.message().contains("jsonpath")) =>
            {
                let reason = server_error(&err).map(|e| e.message().to_owned()).unwrap_or_default();
                ApiError::bad_input(
                    "filter.configPath",
                    format!("filter.configPath is not a valid SQL/JSON path: {reason}"),
                )
            }
            // query_canceled: the statement timeout (or an administrator's cancel).
            Some("57014") => ApiError::Timeout(err),
            _ => ApiError::Internal(err),
        }
    }
}

fn is_io_error(err: &DbErr) -> bool {
    matches!(
        sqlx_error(err),
        Some(sea_orm::sqlx::Error::Io(_) | sea_orm::sqlx::Error::PoolTimedOut | sea_orm::sqlx::Error::PoolClosed)
    )
}

fn constraint_name(err: &DbErr) -> Option<String> {
    server_error(err)?.constraint().map(str::to_owned)
}

fn conflict_message(err: &DbErr) -> String {
    match constraint_name(err).as_deref() {
        Some("idx_performance_metrics_run_id") => "this run already has metrics".into(),
        _ => "a run with this id already exists".into(),
    }
}

/// Each CHECK constraint of the schema, as the input field and message a client can act on.
fn constraint_message(err: &DbErr) -> Option<(&'static str, &'static str)> {
    Some(match constraint_name(err)?.as_str() {
        "backtest_runs_date_range_check" => ("dateRangeEnd", "dateRangeEnd must not be before dateRangeStart"),
        "backtest_runs_duration_check" => ("durationSeconds", "durationSeconds must not be negative"),
        "backtest_runs_status_check" => ("status", "status must be success, failed or interrupted"),
        "performance_metrics_trade_counts_check" => ("metrics", "trade counts must not be negative"),
        "performance_metrics_trade_sum_check" => {
            ("metrics.winningTrades", "metrics: winningTrades + losingTrades must not exceed totalTrades")
        }
        _ => return None,
    })
}

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        match &err {
            ApiError::Internal(source) => tracing::error!(error = %source, debug = ?source, "internal error"),
            ApiError::ServiceUnavailable(source) => tracing::warn!(error = %source, "database unavailable"),
            ApiError::Timeout(source) => tracing::warn!(error = %source, "statement cancelled"),
            _ => {}
        }
        let code = err.code();
        let (field, index) = match &err {
            ApiError::BadUserInput { field, index, .. } | ApiError::Conflict { field, index, .. } => {
                (field.clone(), *index)
            }
            _ => (None, None),
        };
        let mut gql = async_graphql::Error::new(err.message());
        let ext = gql.extensions.get_or_insert_with(Default::default);
        ext.set("code", code);
        if let Some(field) = field {
            ext.set("field", field);
        }
        if let Some(index) = index {
            ext.set("index", index as u64);
        }
        gql
    }
}
