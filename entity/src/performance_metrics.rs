//! `performance_metrics`: at most one row per run (UNIQUE on `backtest_run_id`).

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "performance_metrics")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub backtest_run_id: Uuid,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub total_return: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub cagr: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((8, 4)))", nullable)]
    pub sharpe_ratio: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((8, 4)))", nullable)]
    pub sortino_ratio: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub max_drawdown: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub volatility: Option<Decimal>,
    pub total_trades: Option<i32>,
    pub winning_trades: Option<i32>,
    pub losing_trades: Option<i32>,
    #[sea_orm(column_type = "Decimal(Some((5, 4)))", nullable)]
    pub win_rate: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub profit_factor: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((20, 2)))", nullable)]
    pub avg_win_amount: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((20, 2)))", nullable)]
    pub avg_loss_amount: Option<Decimal>,
    #[sea_orm(belongs_to, from = "backtest_run_id", to = "id", on_delete = "Cascade")]
    pub backtest_run: BelongsTo<super::backtest_run::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
