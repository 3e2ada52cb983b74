//! What each subcommand does.

use tearsheet_migration::{Migrator, MigratorTrait as _};

use crate::config::{Command, DatabaseArgs, MigrateAction, SeedArgs, ServeArgs};
use crate::db::{self, DbStartError, Pools};
use crate::startup::{Application, StartError, shutdown_signal};

pub async fn run(command: Command) -> Result<(), StartError> {
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(args) => migrate(args.action.unwrap_or(MigrateAction::Up), &args.db).await,
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Seed(args) => seed(args).await,
    }
}

async fn seed(args: SeedArgs) -> Result<(), StartError> {
    use crate::store::seed::{self, SeedSpec};
    let provisioned = db::provision(&args.db).await?;
    let pools = Pools::connect(&provisioned.url, &args.db, None).await?;
    let result = async {
        db::migrate_up(&pools.write).await?;
        let spec = SeedSpec { runs: args.runs, seed: args.seed, reruns_per_mille: args.reruns_per_mille };
        let started = std::time::Instant::now();
        let mut progress = crate::progress::Progress::new("runs", spec.runs);
        progress.update(0);
        seed::seed(&pools.write, spec, |step| match step {
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
    eprintln!("\nTearsheet is up. GraphiQL: http://{addr}/graphql   (Ctrl-C stops it)\n");
    app.run_until(shutdown_signal()).await
}

async fn migrate(action: MigrateAction, db_args: &DatabaseArgs) -> Result<(), StartError> {
    let provisioned = db::provision(db_args).await?;
    let pools = Pools::connect(&provisioned.url, db_args, None).await?;
    let conn = &pools.write;
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
