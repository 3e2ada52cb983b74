//! Tearsheet's schema, one migration per step of the seed note's rollout.
//!
//! Each migration is plain SQL: the schema is PostgreSQL-only, and the exact DDL
//! (NULLS LAST, INCLUDE, jsonb_path_ops, partial predicates) is the point of it.
//! Every migration has a `down` that undoes exactly its `up`.

use sea_orm_migration::prelude::*;

mod m0001_create_tables;
mod m0002_indexes_phase1;
mod m0003_indexes_phase2;
mod m0004_indexes_phase3;
mod m0005_index_lineage;
mod m0006_config_keys_and_toast;
mod m0007_gin_pending_list;
mod m0008_config_hash;

pub use sea_orm_migration::MigratorTrait;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_create_tables::Migration),
            Box::new(m0002_indexes_phase1::Migration),
            Box::new(m0003_indexes_phase2::Migration),
            Box::new(m0004_indexes_phase3::Migration),
            Box::new(m0005_index_lineage::Migration),
            Box::new(m0006_config_keys_and_toast::Migration),
            Box::new(m0007_gin_pending_list::Migration),
            Box::new(m0008_config_hash::Migration),
        ]
    }
}

/// Runs one `up` and one `down` script. Both run inside the migration's transaction
/// (PostgreSQL DDL is transactional), so a failed script leaves nothing behind.
pub(crate) async fn run(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager.get_connection().execute_unprepared(sql).await.map(|_| ())
}

/// Declares a migration from an `up` and a `down` SQL script.
macro_rules! sql_migration {
    ($up:expr, $down:expr) => {
        #[derive(sea_orm_migration::prelude::DeriveMigrationName)]
        pub struct Migration;

        #[sea_orm_migration::prelude::async_trait::async_trait]
        impl sea_orm_migration::prelude::MigrationTrait for Migration {
            async fn up(
                &self,
                manager: &sea_orm_migration::prelude::SchemaManager,
            ) -> Result<(), sea_orm_migration::prelude::DbErr> {
                crate::run(manager, $up).await
            }

            async fn down(
                &self,
                manager: &sea_orm_migration::prelude::SchemaManager,
            ) -> Result<(), sea_orm_migration::prelude::DbErr> {
                crate::run(manager, $down).await
            }
        }
    };
}
pub(crate) use sql_migration;
