//! What each subcommand does.

use tearsheet_migration::{Migrator, MigratorTrait as _};

use crate::config::{AdminAction, AdminArgs, Command, DatabaseArgs, MigrateAction, SeedArgs, ServeArgs};
use crate::db::{self, DbStartError, Pools};
use crate::startup::{Application, StartError, shutdown_signal};

pub async fn run(command: Command) -> Result<(), StartError> {
    match command {
        Command::Serve(args) => serve(*args).await,
        Command::Migrate(args) if args.dry_run => {
            migrate_dry_run(args.action.unwrap_or(MigrateAction::Up), &args.db).await
        }
        Command::Migrate(args) => migrate(args.action.unwrap_or(MigrateAction::Up), &args.db).await,
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Seed(args) => seed(args).await,
        Command::Admin(args) => admin(args).await,
    }
}

async fn admin(args: AdminArgs) -> Result<(), StartError> {
    use crate::admin;
    let provisioned = db::provision(args.action.db()).await?;
    let pools = Pools::connect(&provisioned.direct_url, args.action.db(), None).await?;
    let db = pools.write.conn();
    let result: Result<(), AdminError> = async {
        match args.action {
            AdminAction::Indexes { json, .. } => {
                let report = admin::indexes::report(db).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
                } else {
                    print!("{}", admin::indexes::table(&report));
                }
            }
            AdminAction::Analyze { .. } => {
                for (table, secs) in admin::analyze(db).await? {
                    println!("analyzed {table} in {:.1} ms", secs * 1000.0);
                }
            }
            AdminAction::RefreshFacts { .. } => {
                let started = std::time::Instant::now();
                let (written, removed) = crate::store::facts::refresh(db).await?;
                println!(
                    "run_facts: {written} rows written, {removed} removed, in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
            AdminAction::Explain { pattern, no_analyze, .. } => {
                for (i, statement) in admin::explain::explain(db, pattern, !no_analyze).await?.iter().enumerate() {
                    if i > 0 {
                        println!();
                    }
                    println!("-- {}", statement.sql);
                    for (n, value) in statement.parameters.iter().enumerate() {
                        println!("-- ${} = {value}", n + 1);
                    }
                    for line in &statement.plan {
                        println!("{line}");
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    pools.close().await;
    drop(provisioned);
    result.map_err(|e| StartError::Admin(e.to_string()))
}

#[derive(Debug, thiserror::Error)]
enum AdminError {
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Explain(#[from] crate::admin::explain::ExplainError),
}

async fn seed(args: SeedArgs) -> Result<(), StartError> {
    use crate::store::seed::{self, SeedSpec};
    let provisioned = db::provision(&args.db).await?;
    let pools = Pools::connect(&provisioned.direct_url, &args.db, None).await?;
    let result = async {
        db::migrate_up(pools.write.conn()).await?;
        let spec = SeedSpec { runs: args.runs, seed: args.seed, reruns_per_mille: args.reruns_per_mille };
        let started = std::time::Instant::now();
        let mut progress = crate::progress::Progress::new("runs", spec.runs);
        progress.update(0);
        seed::seed(pools.write.conn(), spec, |step| match step {
            seed::Step::Rows(done) => progress.update(done),
            seed::Step::Indexes(built, of) => tracing::info!("built index {built} of {of}"),
            seed::Step::Vacuum => tracing::info!("vacuum analyze"),
        })
        .await
        .map_err(DbStartError::Seed)?;
        let total = crate::store::runs::count(&pools.write, &Default::default()).await.map_err(DbStartError::Seed)?;
        tracing::info!(seconds = started.elapsed().as_secs_f64(), runs_in_database = total, "seeded");
        Ok::<(), DbStartError>(())
    }
    .await;
    pools.close().await;
    drop(provisioned);
    result.map_err(StartError::from)
}

async fn serve(args: ServeArgs) -> Result<(), StartError> {
    let app = Application::build(&args).await?;
    let addr = app.local_addr();
    tracing::info!(%addr, "listening");
    if let Some(metrics) = app.metrics_addr() {
        tracing::info!(addr = %metrics, "metrics listening");
    }
    eprintln!("\nTearsheet is up. GraphiQL: http://{addr}/graphql   (Ctrl-C stops it)\n");
    app.run_until(shutdown_signal()).await
}

/// `migrate --dry-run`: the steps of every pending migration, as SQL, without running them.
async fn migrate_dry_run(action: MigrateAction, db_args: &DatabaseArgs) -> Result<(), StartError> {
    if action != MigrateAction::Up {
        return Err(StartError::Admin(
            "--dry-run shows what `migrate up` would do; use it without a subcommand".into(),
        ));
    }
    let provisioned = db::provision(db_args).await?;
    let pools = Pools::connect(&provisioned.direct_url, db_args, None).await?;
    let pending = Migrator::get_pending_migrations(pools.write.conn()).await.map_err(DbStartError::Migrate);
    pools.close().await;
    drop(provisioned);
    let pending: Vec<String> = pending?.iter().map(|m| m.name().to_owned()).collect();
    if pending.is_empty() {
        println!("-- no pending migrations");
    }
    for (name, steps) in tearsheet_migration::scripts().into_iter().filter(|(name, _)| pending.contains(name)) {
        println!("-- migration {name}: {} step(s), each committed on its own\n", steps.len());
        for step in steps {
            println!("{}\n", step.sql());
        }
    }
    Ok(())
}

async fn migrate(action: MigrateAction, db_args: &DatabaseArgs) -> Result<(), StartError> {
    let provisioned = db::provision(db_args).await?;
    let pools = Pools::connect(&provisioned.direct_url, db_args, None).await?;
    let conn = pools.write.conn();
    let result = match action {
        MigrateAction::Up => db::migrate_up(conn).await,
        MigrateAction::Down { steps, all } => {
            Migrator::down(conn, if all { None } else { Some(steps) }).await.map_err(DbStartError::Migrate)
        }
        MigrateAction::Status => match Migrator::get_migration_with_status(conn).await {
            Ok(migrations) => {
                for m in migrations {
                    println!("{:<10} {}", format!("{:?}", m.status()).to_lowercase(), m.name());
                }
                Ok(())
            }
            Err(e) => Err(DbStartError::Migrate(e)),
        },
    };
    pools.close().await;
    drop(provisioned);
    result.map_err(StartError::from)
}
