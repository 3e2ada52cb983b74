//! `serve --demo`: a few hundred synthetic runs in an empty database, so that a new user
//! has something to explore.

use chrono::{Duration, Utc};
use sea_orm::DbErr;

use crate::store;
use crate::store::record::{Configs, RecordError};

pub const DEMO_RUNS: usize = 400;
const DEMO_SEED: u64 = 20_250_125;

/// Fills the database with the demo runs when it holds no runs; returns how many it added.
/// All in one transaction: an interrupted fill leaves the database empty, not half-filled.
pub async fn fill_if_empty(db: &crate::db::Db) -> Result<usize, DbErr> {
    if store::runs::count(db, &Default::default()).await? > 0 {
        return Ok(0);
    }
    let runs = crate::synthetic::runs(DEMO_SEED, DEMO_RUNS, Utc::now(), Duration::days(90));
    // One batch: re-runs name originals earlier in it.
    store::record::record(db, &runs, Configs::Omit).await.map_err(|e| match e {
        RecordError::Db(e) => e,
        RecordError::Rejected(r) => DbErr::Custom(format!("demo runs were refused: {r:?}")),
    })?;
    Ok(runs.len())
}
