//! `admin indexes`: how each index of Tearsheet's tables is used, from PostgreSQL's
//! statistics views.
//!
//! The seed note calls this report "bloat detection"; it is not one. Scans and tuples per
//! scan say whether an index is used and how selective its scans are; bloat (dead or
//! empty space) needs `pgstattuple`. The size of each index beside its table's is shown so
//! that an index larger than its table stands out. An index that enforces a constraint
//! (the primary key, a unique key) is never "unused" in the sense of droppable: it says so.

use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbErr};
use serde::Serialize;

use crate::store::stmt;

/// Tuples read per scan above which a scan is flagged: the seed note's threshold. A list
/// page reads ~20–100 entries, so scans that read more on average are worth a look.
pub const HIGH_READ_RATIO: f64 = 100.0;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IndexUsage {
    pub table: String,
    pub index: String,
    pub scans: i64,
    pub tuples_read: i64,
    pub tuples_fetched: i64,
    pub index_bytes: i64,
    pub table_bytes: i64,
    /// The index backs a primary key, unique or exclusion constraint.
    pub enforces_constraint: bool,
    pub status: Status,
    pub definition: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Unused,
    HighReadRatio,
    Ok,
}

impl Status {
    pub fn of(scans: i64, tuples_read: i64) -> Status {
        if scans == 0 {
            Status::Unused
        } else if tuples_read as f64 / scans as f64 > HIGH_READ_RATIO {
            Status::HighReadRatio
        } else {
            Status::Ok
        }
    }

    fn label(self) -> &'static str {
        match self {
            Status::Unused => "UNUSED",
            Status::HighReadRatio => "HIGH READ RATIO",
            Status::Ok => "OK",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// When the statistics were last reset (`None`: never, since the cluster was created).
    pub stats_since: Option<String>,
    pub indexes: Vec<IndexUsage>,
}

pub async fn report(db: &DatabaseConnection) -> Result<Report, DbErr> {
    let rows = db
        .query_all_raw(stmt(
            "SELECT s.relname::text, s.indexrelname::text, s.idx_scan, s.idx_tup_read, s.idx_tup_fetch, \
               pg_relation_size(s.indexrelid), pg_relation_size(s.relid), \
               EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = s.indexrelid), \
               pg_get_indexdef(s.indexrelid) \
             FROM pg_stat_user_indexes s \
             WHERE s.schemaname = current_schema() AND s.relname IN ('backtest_runs', 'performance_metrics') \
             ORDER BY s.relname, s.idx_scan DESC, s.indexrelname",
            [],
        ))
        .await?;
    let indexes = rows
        .iter()
        .map(|r| {
            let scans: i64 = r.try_get_by_index(2)?;
            let tuples_read: i64 = r.try_get_by_index(3)?;
            Ok(IndexUsage {
                table: r.try_get_by_index(0)?,
                index: r.try_get_by_index(1)?,
                scans,
                tuples_read,
                tuples_fetched: r.try_get_by_index(4)?,
                index_bytes: r.try_get_by_index(5)?,
                table_bytes: r.try_get_by_index(6)?,
                enforces_constraint: r.try_get_by_index(7)?,
                status: Status::of(scans, tuples_read),
                definition: r.try_get_by_index(8)?,
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    let since = db
        .query_one_raw(stmt(
            "SELECT to_char(stats_reset AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
             FROM pg_stat_database WHERE datname = current_database()",
            [],
        ))
        .await?;
    let stats_since = match since {
        Some(row) => row.try_get_by_index::<Option<String>>(0)?,
        None => None,
    };
    Ok(Report { stats_since, indexes })
}

/// The report as a table for a terminal.
pub fn table(report: &Report) -> String {
    let header = ["table", "index", "scans", "tuples read", "tuples fetched", "size", "table size", "status"];
    let rows: Vec<[String; 8]> = report
        .indexes
        .iter()
        .map(|i| {
            let status = match (i.status, i.enforces_constraint) {
                (Status::Unused, true) => "UNUSED (constraint)".to_owned(),
                (status, _) => status.label().to_owned(),
            };
            [
                i.table.clone(),
                i.index.clone(),
                i.scans.to_string(),
                i.tuples_read.to_string(),
                i.tuples_fetched.to_string(),
                bytes(i.index_bytes),
                bytes(i.table_bytes),
                status,
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            // Text left, numbers right.
            .map(|(i, (c, w))| if (2..=6).contains(&i) { format!("{c:>w$}") } else { format!("{c:<w$}") })
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = String::new();
    out.push_str(&line(&header.map(str::to_owned)));
    out.push('\n');
    out.push_str(&line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>()));
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    out.push_str(&format!(
        "\nStatistics since {}. UNUSED: no scans since then (an index that enforces a constraint is needed \
         even so). HIGH READ RATIO: scans read more than {HIGH_READ_RATIO} entries on average.\n",
        report.stats_since.as_deref().unwrap_or("the cluster was created")
    ));
    out
}

fn bytes(n: i64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    format!("{value:.1} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_seed_notes_thresholds() {
        assert_eq!(Status::of(0, 0), Status::Unused);
        assert_eq!(Status::of(10, 1000), Status::Ok);
        assert_eq!(Status::of(10, 1001), Status::HighReadRatio);
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(8192), "8.0 kB");
        assert_eq!(bytes(3 * 1024 * 1024 + 512 * 1024), "3.5 MB");
    }
}
