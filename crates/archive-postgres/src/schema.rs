//! The archive's PostgreSQL schema and its versioned migrations, embedded in the crate.
//!
//! Everything lives in the `d365audit` schema. Each migration runs in one transaction and is
//! recorded in `d365audit.schema_migrations`; the whole sequence runs under a session advisory
//! lock on a dedicated connection, so replicas starting at once wait for each other instead of
//! racing (the lock is released when that connection closes, whatever happens). Migrations only
//! move forward: a database written by a newer d365audit is refused with a message that says to
//! upgrade. After the migrations, `sql/console_role.sql` (re)grants the SQL console's read-only
//! role, and when the `citus` extension is installed, `sql/citus.sql` distributes the tables
//! (see the crate documentation).

use tokio_postgres::Client;

/// The schema that holds every table of the archive.
pub(crate) const SCHEMA: &str = "d365audit";

/// One step of the schema's history.
#[derive(Debug)]
pub(crate) struct Migration {
    pub(crate) version: i32,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

/// Every migration, in order; version `n` is the `n`-th.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "archive", sql: include_str!("../migrations/0001_archive.sql") },
    Migration {
        version: 2,
        name: "blob queue and access",
        sql: include_str!("../migrations/0002_queue_and_access.sql"),
    },
    Migration {
        version: 3,
        name: "dataverse audit changes",
        sql: include_str!("../migrations/0003_changes.sql"),
    },
    Migration {
        version: 4,
        name: "report counts",
        sql: include_str!("../migrations/0004_report_counts.sql"),
    },
    Migration {
        version: 5,
        name: "memberships in the records' rows",
        sql: include_str!("../migrations/0005_listed_arrays.sql"),
    },
    Migration {
        version: 6,
        name: "compact keys, hashed indexes, blocks of verbatim bytes",
        sql: include_str!("../migrations/0006_compact.sql"),
    },
    Migration {
        version: 7,
        name: "names as ids",
        sql: include_str!("../migrations/0007_names.sql"),
    },
    Migration {
        version: 8,
        name: "hour-keyed indexes, system users as names",
        sql: include_str!("../migrations/0008_hours_and_system_users.sql"),
    },
];

/// The schema version this program writes and reads.
pub const SCHEMA_VERSION: i32 = 8;

/// The Citus distribution, applied when the extension exists.
pub(crate) const CITUS_DISTRIBUTION: &str = include_str!("../sql/citus.sql");

/// The SQL console's role and its grants, applied after every migration run.
pub(crate) const CONSOLE_ROLE: &str = include_str!("../sql/console_role.sql");

/// Advisory lock key that serializes migrations ("d365" and 1).
const MIGRATION_LOCK: i64 = 0x6433_3635_0000_0001;

/// Why a database cannot be used as an archive.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SchemaError {
    #[error(
        "the archive was written by a newer d365audit (schema version {found}, this program \
         knows up to {known}); upgrade d365audit to open it"
    )]
    Newer { found: i32, known: i32 },
    #[error(
        "the archive has schema version {found} and this program needs {known}; start a \
         collector (which opens it read-write) once to upgrade it, then retry"
    )]
    NeedsUpgrade { found: i32, known: i32 },
    #[error(
        "this database has no d365audit archive yet; start a collector (which opens it \
         read-write) once to create it"
    )]
    Missing,
    #[error(
        "the schema `d365audit` holds tables but no schema_migrations table: it belongs to \
         something else; use another database"
    )]
    Foreign,
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
}

/// What opening did to the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Migrated {
    pub(crate) from_version: i32,
    pub(crate) to_version: i32,
    pub(crate) citus: bool,
}

/// Creates the schema in an empty database or brings an older one up to date.
pub(crate) async fn migrate(client: &mut Client) -> Result<Migrated, SchemaError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
    let migrated = migrate_locked(client).await;
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
    let migrated = migrated?;
    unlocked?;
    Ok(migrated)
}

async fn migrate_locked(client: &mut Client) -> Result<Migrated, SchemaError> {
    let schema_exists: bool = client
        .query_one("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", &[&SCHEMA])
        .await?
        .get(0);
    if !schema_exists {
        client.batch_execute("CREATE SCHEMA d365audit").await?;
    }
    if !has_migrations_table(client).await? {
        let tables: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
                &[&SCHEMA],
            )
            .await?
            .get(0);
        if tables > 0 {
            return Err(SchemaError::Foreign);
        }
        client
            .batch_execute(
                "CREATE TABLE d365audit.schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )",
            )
            .await?;
    }
    let found = current_version(client).await?;
    if found > SCHEMA_VERSION {
        return Err(SchemaError::Newer { found, known: SCHEMA_VERSION });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > found) {
        let tx = client.transaction().await?;
        tx.batch_execute(migration.sql).await?;
        tx.execute(
            "INSERT INTO d365audit.schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "archive schema migrated"
        );
    }
    // Roles belong to the whole server: two archives on one server starting at once may both
    // try to create it (the file tolerates that). The grants rewrite the tables' catalog rows,
    // as attaching a month's partition does: under the partition lock, so that a replica
    // creating partitions meanwhile does not fail with "tuple concurrently updated".
    if let Err(error) = apply_console_role(client).await {
        tracing::warn!(
            %error,
            "could not set up the SQL console's role d365audit_console; the console runs as the \
             archive's own user (still read-only)"
        );
    }
    let citus: bool = client
        .query_one("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')", &[])
        .await?
        .get(0);
    if citus {
        client.batch_execute(CITUS_DISTRIBUTION).await?;
    }
    Ok(Migrated { from_version: found, to_version: SCHEMA_VERSION, citus })
}

async fn apply_console_role(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&crate::partitions::PARTITION_LOCK]).await?;
    tx.batch_execute(CONSOLE_ROLE).await?;
    tx.commit().await
}

async fn has_migrations_table(client: &Client) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .query_one("SELECT to_regclass('d365audit.schema_migrations') IS NOT NULL", &[])
        .await?
        .get(0))
}

async fn current_version(client: &Client) -> Result<i32, tokio_postgres::Error> {
    Ok(client
        .query_one("SELECT coalesce(max(version), 0) FROM d365audit.schema_migrations", &[])
        .await?
        .get(0))
}

/// Checks, without changing anything, that the database holds an archive of this version.
pub(crate) async fn check_readable(client: &Client) -> Result<(), SchemaError> {
    if !has_migrations_table(client).await? {
        return Err(SchemaError::Missing);
    }
    let found = current_version(client).await?;
    if found > SCHEMA_VERSION {
        return Err(SchemaError::Newer { found, known: SCHEMA_VERSION });
    }
    if found < SCHEMA_VERSION {
        return Err(SchemaError::NeedsUpgrade { found, known: SCHEMA_VERSION });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_the_last_is_the_schema_version() {
        for (i, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, i as i32 + 1, "{}", migration.name);
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }

    #[test]
    fn every_table_is_distributed_or_replicated_by_the_citus_file() {
        let named = |prefix: &'static str| -> Vec<&str> {
            MIGRATIONS
                .iter()
                .flat_map(|m| m.sql.lines())
                .filter_map(move |line| line.strip_prefix(prefix))
                .filter_map(|rest| rest.split([' ', '(', ';']).next())
                .collect()
        };
        // Tables a later migration dropped are gone.
        let dropped = named("DROP TABLE d365audit.");
        let tables: Vec<&str> = named("CREATE TABLE d365audit.")
            .into_iter()
            .filter(|table| !dropped.contains(table))
            .collect();
        assert!(tables.len() >= 15, "{tables:?}");
        let local: Vec<&str> = CITUS_DISTRIBUTION
            .lines()
            .filter_map(|line| line.trim_start().strip_prefix("--"))
            .filter_map(|line| line.trim_start().strip_prefix("local:"))
            .flat_map(str::split_whitespace)
            .collect();
        for table in tables {
            let quoted = format!("'d365audit.{table}'");
            if local.contains(&quoted.as_str()) {
                continue;
            }
            let mentions = CITUS_DISTRIBUTION.lines().filter(|l| l.contains(&quoted)).count();
            assert!(
                mentions >= 2,
                "sql/citus.sql must distribute or replicate d365audit.{table} (idempotently), \
                 or list it as a local table"
            );
        }
    }

    #[test]
    fn the_console_role_reads_no_account_secrets() {
        for table in ["accounts", "sessions", "api_tokens", "access_log"] {
            assert!(CONSOLE_ROLE.contains(&format!("d365audit.{table}")), "{table}");
        }
    }
}
