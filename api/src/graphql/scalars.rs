//! Scalars of the contract that async-graphql does not name the same way, and id parsing.

use async_graphql::{ID, InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;
use uuid::Uuid;

use crate::error::{ApiError, Result};

/// A calendar date, YYYY-MM-DD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom(format!("expected a date as YYYY-MM-DD, got {s:?}"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// A run id from the client: any UUID spelling `uuid` accepts, else `BAD_USER_INPUT`.
pub fn parse_run_id(arg: &str, id: &ID) -> Result<Uuid> {
    Uuid::parse_str(id.as_str())
        .map_err(|_| ApiError::bad_input(arg, format!("{arg} must be a UUID, got {:?}", id.as_str())))
}

/// A run id as the API shows it: lower-case and hyphenated.
pub fn run_id(id: Uuid) -> ID {
    ID(id.hyphenated().to_string())
}
