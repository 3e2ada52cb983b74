//! `paretoFront`: the runs not beaten on every objective at once.

use async_graphql::{Context, Enum, InputObject, Object};

use super::loaders::Loaders;
use super::metrics::MetricField;
use super::runs::{BacktestRun, BacktestRunFilter};
use crate::error::ApiError;
use crate::store::pareto::{self, MAX_FRONT, MAX_OBJECTIVES, ParetoError};
use crate::store::runs::Configs;

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Goal {
    Maximize,
    Minimize,
}

#[derive(InputObject, Clone, Copy, Debug)]
pub struct Objective {
    pub metric: MetricField,
    pub goal: Goal,
}

#[derive(Default)]
pub struct ParetoQuery;

#[Object]
impl ParetoQuery {
    /// Runs that no other run beats on every objective (ties: equal on all objectives is
    /// not beaten). Runs lacking an objective's metric are left out. 1 to 4 objectives;
    /// best-first on the first objective. One sorted scan, streamed: memory is the front.
    async fn pareto_front(
        &self,
        ctx: &Context<'_>,
        filter: Option<BacktestRunFilter>,
        objectives: Vec<Objective>,
    ) -> async_graphql::Result<Vec<BacktestRun>> {
        if objectives.is_empty() || objectives.len() > MAX_OBJECTIVES {
            return Err(ApiError::bad_input(
                "objectives",
                format!("objectives: give 1 to {MAX_OBJECTIVES}, got {}", objectives.len()),
            )
            .into());
        }
        let objectives: Vec<pareto::Objective> = objectives
            .iter()
            .map(|o| pareto::Objective { metric: o.metric.into(), maximize: o.goal == Goal::Maximize })
            .collect();
        let filter = filter.unwrap_or_default().into_filter()?;
        let db = ctx.data::<Loaders>()?.read();
        let ids = pareto::front(db, &filter, &objectives).await.map_err(|e| match e {
            ParetoError::TooLarge => ApiError::bad_request(format!(
                "the Pareto front has more than {MAX_FRONT} runs: narrow the filter or add a conflicting objective"
            )),
            ParetoError::Db(e) => ApiError::from(e),
        })?;
        // Configs only when the selection shows them (see `runGroups`).
        let runs = super::loaders::load_runs(ctx, &[ctx.look_ahead()], &ids, Configs::Omit).await?;
        let mut by_id: std::collections::HashMap<uuid::Uuid, BacktestRun> =
            runs.into_iter().map(|r| (r.model().id, r)).collect();
        // In the front's order; a run deleted meanwhile is left out.
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }
}
