//! Tearsheet's schema, one migration per step of the seed note's rollout.
//!
//! Each migration is plain SQL: the schema is PostgreSQL-only, and the exact DDL
//! (NULLS LAST, INCLUDE, jsonb_path_ops, partial predicates) is the point of it.
//! Migrations are lists of [`Step`]s that a live database takes while it keeps serving
//! writes (see `steps`): indexes are built `CONCURRENTLY`, other DDL runs in short
//! transactions with a lock timeout, rows are backfilled in batches. Every migration has
//! a `down` that undoes exactly its `up`.

use sea_orm_migration::prelude::*;

mod steps;

pub use sea_orm_migration::MigratorTrait;
pub use steps::Step;

/// Declares the migrations, in order: the migrator's list and [`scripts`] for `--dry-run`.
macro_rules! migrations {
    ($($m:ident),* $(,)?) => {
        $(mod $m;)*

        pub struct Migrator;

        #[async_trait::async_trait]
        impl MigratorTrait for Migrator {
            fn migrations() -> Vec<Box<dyn MigrationTrait>> {
                vec![$(Box::new($m::Migration)),*]
            }
        }

        /// Every migration's name with its `up` steps.
        pub fn scripts() -> Vec<(String, &'static [Step])> {
            vec![$((MigrationName::name(&$m::Migration).to_owned(), $m::UP)),*]
        }
    };
}

migrations!(
    m0001_create_tables,
    m0002_indexes_phase1,
    m0003_indexes_phase2,
    m0004_indexes_phase3,
    m0005_index_lineage,
    m0006_config_keys_and_toast,
    m0007_gin_pending_list,
    m0008_config_hash,
    m0009_config_hash_except_seed,
    m0010_supplied_config_hashes,
    m0011_run_facts,
    m0012_run_fact_pairs,
);

/// Runs the steps one after the other, each committed on its own.
pub(crate) async fn run(manager: &SchemaManager<'_>, steps: &[Step]) -> Result<(), DbErr> {
    for step in steps {
        step.run(manager.get_connection()).await?;
    }
    Ok(())
}

/// Declares a migration from its `up` and `down` steps (`UP` and `DOWN`). It runs outside
/// a transaction: `CREATE INDEX CONCURRENTLY` cannot run in one, and one transaction
/// around a whole migration would hold its locks until the end.
macro_rules! migration {
    (up: [$($up:expr),* $(,)?], down: [$($down:expr),* $(,)?] $(,)?) => {
        pub const UP: &[crate::Step] = &[$($up),*];
        pub const DOWN: &[crate::Step] = &[$($down),*];

        #[derive(sea_orm_migration::prelude::DeriveMigrationName)]
        pub struct Migration;

        #[sea_orm_migration::prelude::async_trait::async_trait]
        impl sea_orm_migration::prelude::MigrationTrait for Migration {
            fn use_transaction(&self) -> Option<bool> {
                Some(false)
            }

            async fn up(
                &self,
                manager: &sea_orm_migration::prelude::SchemaManager,
            ) -> Result<(), sea_orm_migration::prelude::DbErr> {
                crate::run(manager, UP).await
            }

            async fn down(
                &self,
                manager: &sea_orm_migration::prelude::SchemaManager,
            ) -> Result<(), sea_orm_migration::prelude::DbErr> {
                crate::run(manager, DOWN).await
            }
        }
    };
}
pub(crate) use migration;
