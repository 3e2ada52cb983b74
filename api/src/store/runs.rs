//! Reading runs.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult as _, Value};
use tearsheet_entity::backtest_run;
use uuid::Uuid;

use super::stmt;

/// Every column of `backtest_runs`, in table order.
pub const RUN_COLUMNS: &str = "id, created_at, completed_at, duration_seconds, status, strategy_name, \
     strategy_type, instrument_symbol, date_range_start, date_range_end, initial_capital, data_source, \
     config_snapshot, error_message, original_run_id";

/// A position in the newest-first order: the `(created_at, id)` of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreatedAtKey {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl CreatedAtKey {
    pub fn of(run: &backtest_run::Model) -> Self {
        CreatedAtKey { created_at: run.created_at.with_timezone(&Utc), id: run.id }
    }
}

/// The runs with these ids, in no particular order; unknown ids are simply absent.
pub async fn by_ids(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<backtest_run::Model>, DbErr> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM backtest_runs WHERE id = ANY($1)");
    backtest_run::Model::find_by_statement(stmt(sql, [ids.to_vec().into()])).all(db).await
}

/// Up to `limit` runs newest first (by `created_at`, then `id`), strictly after `after`.
///
/// One index range scan on `idx_backtest_runs_created_id` whatever the depth: the cursor
/// is a row comparison, which PostgreSQL turns into an index bound.
pub async fn newest_first(
    db: &impl ConnectionTrait,
    after: Option<CreatedAtKey>,
    limit: u64,
) -> Result<Vec<backtest_run::Model>, DbErr> {
    let mut values: Vec<Value> = Vec::with_capacity(3);
    let mut sql = format!("SELECT {RUN_COLUMNS} FROM backtest_runs");
    if let Some(key) = after {
        sql.push_str(" WHERE (created_at, id) < ($1, $2)");
        values.push(key.created_at.into());
        values.push(key.id.into());
    }
    values.push((limit as i64).into());
    sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT ${}", values.len()));
    backtest_run::Model::find_by_statement(stmt(sql, values)).all(db).await
}

/// How many runs are stored.
pub async fn count(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let row = db.query_one_raw(stmt("SELECT count(*) FROM backtest_runs", [])).await?;
    row.map_or(Ok(0), |r| r.try_get_by_index::<i64>(0))
}
