//! `backtest_runs`: one row per backtest execution.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// How a run ended. Stored as text behind a CHECK constraint (see the migration) rather
/// than a PostgreSQL enum type, so that adding a status later is a constraint change,
/// not an `ALTER TYPE` that cannot run inside a transaction.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    #[sea_orm(string_value = "success")]
    Success,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "interrupted")]
    Interrupted,
}

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "backtest_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub created_at: DateTimeWithTimeZone,
    pub completed_at: Option<DateTimeWithTimeZone>,
    pub duration_seconds: Option<i32>,
    pub status: RunStatus,
    pub strategy_name: String,
    pub strategy_type: String,
    pub instrument_symbol: String,
    pub date_range_start: Date,
    pub date_range_end: Date,
    #[sea_orm(column_type = "Decimal(Some((20, 2)))")]
    pub initial_capital: Decimal,
    pub data_source: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub config_snapshot: Json,
    #[sea_orm(column_type = "Text", nullable)]
    pub error_message: Option<String>,
    pub original_run_id: Option<Uuid>,
    /// Hash of the run's inputs, computed by PostgreSQL (a generated column: never written).
    pub config_hash: Uuid,
    #[sea_orm(
        self_ref,
        relation_enum = "OriginalRun",
        relation_reverse = "Reruns",
        from = "original_run_id",
        to = "id"
    )]
    pub original_run: BelongsTo<Option<Entity>>,
    #[sea_orm(self_ref, relation_enum = "Reruns", relation_reverse = "OriginalRun")]
    pub reruns: HasMany<Entity>,
    #[sea_orm(has_one)]
    pub metrics: HasOne<super::performance_metrics::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
