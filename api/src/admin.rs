//! `tearsheet admin`: reports and maintenance for operators, on the same database the
//! server uses.

pub mod explain;
pub mod indexes;

use std::time::Instant;

use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbErr};

/// `admin analyze`: fresh planner statistics for both tables (after a bulk load or a large
/// delete, before autovacuum gets to it). Returns what was analyzed and how long it took.
pub async fn analyze(db: &DatabaseConnection) -> Result<Vec<(&'static str, f64)>, DbErr> {
    let mut done = Vec::new();
    for table in crate::store::TABLES {
        let started = Instant::now();
        db.execute_unprepared(&format!("ANALYZE {table}")).await?;
        done.push((table, started.elapsed().as_secs_f64()));
    }
    Ok(done)
}
