//! Rows to models by column position, for the hot reads.
//!
//! SeaORM's `FromQueryResult` looks each column up by name (and, for a prefix such as
//! `pm_`, formats the name first): profiled under load it was a fifth of the server's CPU
//! for a page of runs with metrics. The statements here put the columns in a known order
//! (`RUN_COLUMNS`, then `METRICS_COLUMNS`), so they are read by index.
//!
//! They are also decoded without sqlx's per-column type check (`try_get_unchecked`: the
//! column lists are ours and `the_column_lists_have_the_widths_read_here` pins them), and
//! `numeric` goes to `Decimal` by [`Numeric`] rather than sqlx's conversion, which raises
//! 10,000 to a power per base-10000 digit: profiled on pages of 20 runs with metrics
//! (`perf record -g`, frame pointers), decoding the two models was 15% of the server's
//! CPU, the `numeric` conversion alone 4%.

use rust_decimal::Decimal;
use sea_orm::sqlx::error::BoxDynError;
use sea_orm::sqlx::postgres::{PgRow, PgValueFormat, PgValueRef};
use sea_orm::sqlx::{Decode, Postgres, Row as _, types::Json};
use sea_orm::{ActiveEnum as _, DbErr, QueryResult};
use tearsheet_entity::{RunStatus, backtest_run, performance_metrics};
use uuid::Uuid;

/// How many columns `RUN_COLUMNS` (and `RUN_COLUMNS_R`) has.
pub const RUN_WIDTH: usize = 16;
/// How many columns `METRICS_COLUMNS` has.
pub const METRICS_WIDTH: usize = 15;

/// The PostgreSQL row under SeaORM's wrapper (every connection of ours is PostgreSQL).
pub fn pg_row(row: &QueryResult) -> Result<&PgRow, DbErr> {
    row.try_as_pg_row().ok_or_else(|| DbErr::Type("expected a PostgreSQL row".to_owned()))
}

/// Column `at`, decoded as `T` without comparing `T` with the column's type first.
pub fn get<'r, T: Decode<'r, Postgres>>(row: &'r PgRow, at: usize) -> Result<T, DbErr> {
    row.try_get_unchecked(at).map_err(|e| DbErr::Type(format!("column {at}: {e}")))
}

/// A `numeric` column's value as a `Decimal`, decoded from PostgreSQL's binary form
/// directly: base-10000 digits summed into an integer at the value's display scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Numeric(Decimal);

/// 10^0 to 10^38, every power of ten an `i128` holds: looked up rather than raised per
/// digit (`checked_pow` on `i128` was most of a value's decoding; pages decode nine
/// metrics per run).
const POW10: [i128; 39] = {
    let mut p = [1i128; 39];
    let mut i = 1;
    while i < p.len() {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// `10^e`, or `None` where `10i128.checked_pow(e)` overflows.
fn pow10(e: u32) -> Option<i128> {
    POW10.get(e as usize).copied()
}

const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_POS: u16 = 0x0000;

impl Numeric {
    /// PostgreSQL's binary `numeric`: ndigits, weight (of the first digit, in powers of
    /// 10,000), sign, display scale, then the digits.
    fn from_binary(buf: &[u8]) -> Result<Numeric, BoxDynError> {
        let word = |i: usize| -> Result<u16, BoxDynError> {
            buf.get(2 * i..2 * i + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(|| "numeric: truncated value".into())
        };
        let ndigits = usize::from(word(0)?);
        let weight = i32::from(word(1)? as i16);
        let sign = word(2)?;
        let scale = u32::from(word(3)?);
        if sign != NUMERIC_POS && sign != NUMERIC_NEG {
            return Err("numeric: NaN or infinity has no Decimal".into());
        }
        let mut mantissa: i128 = 0;
        for i in 0..ndigits {
            let digit = i128::from(word(4 + i)?);
            // digit * 10^(4 * (weight - i)) at `scale`: digit * 10^exponent.
            let exponent = 4 * (weight - i as i32) + scale as i32;
            let term = if exponent >= 0 {
                pow10(exponent.unsigned_abs()).and_then(|p| digit.checked_mul(p))
            } else {
                // Digits past the display scale: only zeros pad the last group.
                let p = pow10(exponent.unsigned_abs()).unwrap_or(i128::MAX);
                (digit % p == 0).then_some(digit / p)
            };
            mantissa = term
                .and_then(|t| mantissa.checked_add(t))
                .ok_or("numeric: out of Decimal's range or finer than its scale")?;
        }
        if sign == NUMERIC_NEG {
            mantissa = -mantissa;
        }
        Decimal::try_from_i128_with_scale(mantissa, scale).map(Numeric).map_err(|e| format!("numeric: {e}").into())
    }
}

impl<'r> Decode<'r, Postgres> for Numeric {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        match value.format() {
            PgValueFormat::Binary => Numeric::from_binary(value.as_bytes()?),
            PgValueFormat::Text => Ok(Numeric(value.as_str()?.parse()?)),
        }
    }
}

fn decimal(row: &PgRow, at: usize) -> Result<Option<Decimal>, DbErr> {
    Ok(get::<Option<Numeric>>(row, at)?.map(|n| n.0))
}

/// The run whose `RUN_COLUMNS` start at column `at`.
pub fn run_at(row: &QueryResult, at: usize) -> Result<backtest_run::Model, DbErr> {
    let row = pg_row(row)?;
    let status: &str = get(row, at + 4)?;
    Ok(backtest_run::Model {
        id: get(row, at)?,
        created_at: get(row, at + 1)?,
        completed_at: get(row, at + 2)?,
        duration_seconds: get(row, at + 3)?,
        status: RunStatus::try_from_value(&status.to_owned())?,
        strategy_name: get(row, at + 5)?,
        strategy_type: get(row, at + 6)?,
        instrument_symbol: get(row, at + 7)?,
        date_range_start: get(row, at + 8)?,
        date_range_end: get(row, at + 9)?,
        initial_capital: get::<Numeric>(row, at + 10)?.0,
        data_source: get(row, at + 11)?,
        config_snapshot: get::<Json<serde_json::Value>>(row, at + 12)?.0,
        error_message: get(row, at + 13)?,
        original_run_id: get(row, at + 14)?,
        config_hash: get(row, at + 15)?,
    })
}

/// The metrics whose `METRICS_COLUMNS` start at column `at`; `None` when the row has no
/// metrics there (an outer join found none: the id is NULL).
pub fn metrics_at(row: &QueryResult, at: usize) -> Result<Option<performance_metrics::Model>, DbErr> {
    let row = pg_row(row)?;
    let Some(id) = get::<Option<Uuid>>(row, at)? else { return Ok(None) };
    Ok(Some(performance_metrics::Model {
        id,
        backtest_run_id: get(row, at + 1)?,
        total_return: decimal(row, at + 2)?,
        cagr: decimal(row, at + 3)?,
        sharpe_ratio: decimal(row, at + 4)?,
        sortino_ratio: decimal(row, at + 5)?,
        max_drawdown: decimal(row, at + 6)?,
        volatility: decimal(row, at + 7)?,
        total_trades: get(row, at + 8)?,
        winning_trades: get(row, at + 9)?,
        losing_trades: get(row, at + 10)?,
        win_rate: decimal(row, at + 11)?,
        profit_factor: decimal(row, at + 12)?,
        avg_win_amount: decimal(row, at + 13)?,
        avg_loss_amount: decimal(row, at + 14)?,
    }))
}

/// Column `at` of a `numeric` column, as read by [`run_at`] and [`metrics_at`].
pub fn decimal_at(row: &QueryResult, at: usize) -> Result<Option<Decimal>, DbErr> {
    decimal(pg_row(row)?, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::metrics::METRICS_COLUMNS;
    use crate::store::query::RUN_COLUMNS_R;
    use crate::store::runs::RUN_COLUMNS;

    #[test]
    fn powers_of_ten_are_checked_pow_s() {
        for e in 0..45 {
            assert_eq!(pow10(e), 10i128.checked_pow(e), "10^{e}");
        }
    }

    #[test]
    fn the_column_lists_have_the_widths_read_here() {
        assert_eq!(RUN_COLUMNS.split(", ").count(), RUN_WIDTH);
        assert_eq!(RUN_COLUMNS_R.split(", ").count(), RUN_WIDTH);
        assert_eq!(METRICS_COLUMNS.split(", ").count(), METRICS_WIDTH);
        // The positions used above: status is the 5th column, metrics' id the 1st.
        assert_eq!(RUN_COLUMNS.split(", ").nth(4), Some("status"));
        assert_eq!(RUN_COLUMNS.split(", ").nth(12), Some("config_snapshot"));
        assert_eq!(METRICS_COLUMNS.split(", ").nth(14), Some("avg_loss_amount"));
    }
}
