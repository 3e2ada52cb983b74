//! `PerformanceMetrics`, and its input.

use async_graphql::{InputObject, Object};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;
use tearsheet_entity::performance_metrics;

use crate::error::{ApiError, Result};
use crate::store::record::NewMetrics;

pub struct PerformanceMetrics(pub performance_metrics::Model);

fn float(d: Option<Decimal>) -> Option<f64> {
    d.and_then(|d| d.to_f64())
}

#[Object]
impl PerformanceMetrics {
    async fn total_return(&self) -> Option<f64> {
        float(self.0.total_return)
    }
    async fn cagr(&self) -> Option<f64> {
        float(self.0.cagr)
    }
    async fn sharpe_ratio(&self) -> Option<f64> {
        float(self.0.sharpe_ratio)
    }
    async fn sortino_ratio(&self) -> Option<f64> {
        float(self.0.sortino_ratio)
    }
    async fn max_drawdown(&self) -> Option<f64> {
        float(self.0.max_drawdown)
    }
    async fn volatility(&self) -> Option<f64> {
        float(self.0.volatility)
    }
    async fn total_trades(&self) -> Option<i32> {
        self.0.total_trades
    }
    async fn winning_trades(&self) -> Option<i32> {
        self.0.winning_trades
    }
    async fn losing_trades(&self) -> Option<i32> {
        self.0.losing_trades
    }
    async fn win_rate(&self) -> Option<f64> {
        float(self.0.win_rate)
    }
    async fn profit_factor(&self) -> Option<f64> {
        float(self.0.profit_factor)
    }
    async fn avg_win_amount(&self) -> Option<Decimal> {
        self.0.avg_win_amount
    }
    async fn avg_loss_amount(&self) -> Option<Decimal> {
        self.0.avg_loss_amount
    }
}

#[derive(InputObject, Clone, Debug, Default)]
pub struct PerformanceMetricsInput {
    pub total_return: Option<f64>,
    pub cagr: Option<f64>,
    pub sharpe_ratio: Option<f64>,
    pub sortino_ratio: Option<f64>,
    pub max_drawdown: Option<f64>,
    pub volatility: Option<f64>,
    pub total_trades: Option<i32>,
    pub winning_trades: Option<i32>,
    pub losing_trades: Option<i32>,
    pub win_rate: Option<f64>,
    pub profit_factor: Option<f64>,
    pub avg_win_amount: Option<Decimal>,
    pub avg_loss_amount: Option<Decimal>,
}

impl PerformanceMetricsInput {
    /// Floats become exact decimals here; NaN and infinities are refused by name.
    pub fn validate(&self) -> Result<NewMetrics> {
        let dec = |name: &str, v: Option<f64>| -> Result<Option<Decimal>> {
            v.map(|f| {
                Decimal::from_f64_retain(f).filter(|_| f.is_finite()).map(|d| d.round_dp(12).normalize()).ok_or_else(
                    || {
                        ApiError::bad_input(
                            format!("metrics.{name}"),
                            format!("metrics.{name} must be a finite number"),
                        )
                    },
                )
            })
            .transpose()
        };
        Ok(NewMetrics {
            total_return: dec("totalReturn", self.total_return)?,
            cagr: dec("cagr", self.cagr)?,
            sharpe_ratio: dec("sharpeRatio", self.sharpe_ratio)?,
            sortino_ratio: dec("sortinoRatio", self.sortino_ratio)?,
            max_drawdown: dec("maxDrawdown", self.max_drawdown)?,
            volatility: dec("volatility", self.volatility)?,
            total_trades: self.total_trades,
            winning_trades: self.winning_trades,
            losing_trades: self.losing_trades,
            win_rate: dec("winRate", self.win_rate)?,
            profit_factor: dec("profitFactor", self.profit_factor)?,
            avg_win_amount: self.avg_win_amount,
            avg_loss_amount: self.avg_loss_amount,
        })
    }
}
