//! Our own small migration runner: the SQL of both folders is compiled into the binary, each
//! file applied once in its own transaction and recorded with its checksum. sqlx's `migrate!`
//! would need the `macros` feature, which builds both database drivers a second time for the host.

use anyhow::{bail, Context};

use super::{Db, Store};

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

macro_rules! migration {
    ($version:expr, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../../migrations/sqlite/", $name, ".sql")),
            postgres: include_str!(concat!("../../migrations/postgres/", $name, ".sql")),
        }
    };
}

/// Every migration, in order. The file names are the same in both folders (a test checks).
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_core"),
    migration!(2, "0002_apps"),
    migration!(3, "0003_keys_audit"),
    migration!(4, "0004_tokens"),
    migration!(5, "0005_sign_in"),
    migration!(6, "0006_system_users"),
    migration!(7, "0007_registration"),
    migration!(8, "0008_portal"),
    migration!(9, "0009_client_keys"),
    migration!(10, "0010_server_secrets"),
    migration!(11, "0011_pruning"),
    migration!(12, "0012_superid"),
    migration!(13, "0013_offboarding"),
    migration!(14, "0014_people"),
    migration!(15, "0015_second_factors"),
    migration!(16, "0016_passkeys"),
    migration!(17, "0017_pushed_requests"),
    migration!(18, "0018_dpop"),
    migration!(19, "0019_token_exchange"),
    migration!(20, "0020_device_codes"),
    migration!(21, "0021_backchannel_logout"),
    migration!(22, "0022_webhooks"),
    migration!(23, "0023_audit_stream"),
    migration!(24, "0024_audit_export"),
    migration!(25, "0025_federation"),
    migration!(26, "0026_domain_claims"),
    migration!(27, "0027_expiry_notices"),
    migration!(28, "0028_partner_webhooks_idempotency"),
    migration!(29, "0029_opaque_token_selectors"),
];

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS gatehouse_migrations (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// Checks the recorded checksum, or applies the file and records it, inside the caller's
/// transaction. A macro rather than a generic function: the body is the same for both
/// backends, but sqlx's executor bounds make a generic version unreadable.
macro_rules! apply {
    ($tx:expr, $m:expr, $sql:expr) => {{
        let checksum = crate::crypto::hex(&crate::crypto::sha256($sql.as_bytes()));
        let existing: Option<(String,)> =
            sqlx::query_as("SELECT checksum FROM gatehouse_migrations WHERE version = $1")
                .bind($m.version)
                .fetch_optional(&mut *$tx)
                .await?;
        match existing {
            Some((stored,)) if stored != checksum => {
                bail!("migration {} was changed after it was applied; restore the original file", $m.name)
            }
            Some(_) => false,
            None => {
                sqlx::raw_sql($sql)
                    .execute(&mut *$tx)
                    .await
                    .with_context(|| format!("migration {} failed", $m.name))?;
                sqlx::query(
                    "INSERT INTO gatehouse_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
                )
                .bind($m.version)
                .bind($m.name)
                .bind(checksum)
                .bind(crate::clock::Clock::System.now())
                .execute(&mut *$tx)
                .await?;
                true
            }
        }
    }};
}

pub async fn run(store: &Store) -> anyhow::Result<Vec<&'static str>> {
    let mut applied = Vec::new();
    for m in MIGRATIONS {
        let done = match &store.write {
            Db::Sqlite(pool) => {
                // IMMEDIATE takes the write lock up front, so two processes starting together
                // queue here instead of both applying the same file.
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                sqlx::query(CREATE_TABLE).execute(&mut *tx).await?;
                let done = apply!(tx, m, m.sqlite);
                tx.commit().await?;
                done
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // One migrator at a time across every instance sharing the database.
                sqlx::query("SELECT pg_advisory_xact_lock(7406151)").execute(&mut *tx).await?;
                sqlx::query(CREATE_TABLE).execute(&mut *tx).await?;
                let done = apply!(tx, m, m.postgres);
                tx.commit().await?;
                done
            }
        };
        if done {
            applied.push(m.name);
        }
    }
    // SQLite's writing connection commits without waiting for the disk.
    store.durable(Ok(())).await?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    fn names(backend: &str) -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn both_backends_have_the_same_migration_files() {
        assert_eq!(names("sqlite"), names("postgres"), "migrations/sqlite and migrations/postgres drifted apart");
    }

    #[test]
    fn every_migration_file_is_compiled_in_and_numbered_in_order() {
        let compiled: Vec<String> = MIGRATIONS.iter().map(|m| format!("{}.sql", m.name)).collect();
        assert_eq!(names("sqlite"), compiled, "a migration file is missing from MIGRATIONS");
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
            assert!(m.name.starts_with(&format!("{:04}_", m.version)), "{} is misnumbered", m.name);
        }
    }
}
