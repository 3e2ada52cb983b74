//! What each subcommand does.

use tearsheet_migration::{Migrator, MigratorTrait as _};

use crate::config::{Command, DatabaseArgs, MigrateAction, ServeArgs};
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
    }
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
    let pools = Pools::connect(&provisioned.url, db_args).await?;
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
