//! Function URL configurations: one per function, found by function name or by URL id.
//!
//! Kept in their own table, `function_urls`, keyed by function name with a unique URL id. A
//! trigger removes a function's URL when the function is deleted, so a URL never outlives its
//! function (a function re-created under the same name gets a new URL, as in Lambda).

use crate::{Result, SqliteStore, StoreError};
use async_trait::async_trait;
use kumo_types::{FunctionName, FunctionUrlConfig};
use rusqlite::{params, Connection, OptionalExtension};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS function_urls (
    function_name TEXT PRIMARY KEY,
    url_id        TEXT NOT NULL UNIQUE,
    config        TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS function_urls_follow_function
AFTER DELETE ON functions
BEGIN
    DELETE FROM function_urls WHERE function_name = OLD.name;
END;
";

/// Creates the table (and its trigger) if missing; part of opening the SQLite store.
pub(crate) fn create_schema(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)
}

/// Function URL configurations.
#[async_trait]
pub trait UrlStore: Send + Sync + 'static {
    /// Stores a new URL configuration. `NotFound` if the function does not exist (checked in the
    /// same transaction), `AlreadyExists` if it already has one.
    async fn create_url(&self, config: &FunctionUrlConfig) -> Result<()>;
    async fn get_url(&self, function: &FunctionName) -> Result<Option<FunctionUrlConfig>>;
    async fn url_by_id(&self, url_id: &str) -> Result<Option<FunctionUrlConfig>>;
    /// Replaces the configuration of `config.function`; `NotFound` if it has none.
    async fn replace_url(&self, config: &FunctionUrlConfig) -> Result<()>;
    /// Removes a function's URL configuration; `NotFound` if it has none.
    async fn delete_url(&self, function: &FunctionName) -> Result<()>;
}

fn decode(json: &str) -> Result<FunctionUrlConfig> {
    Ok(serde_json::from_str(json)?)
}

#[async_trait]
impl UrlStore for SqliteStore {
    async fn create_url(&self, config: &FunctionUrlConfig) -> Result<()> {
        let json = serde_json::to_string(config)?;
        let name = config.function.to_string();
        let url_id = config.url_id.clone();
        self.with(move |c| {
            let tx = c.transaction()?;
            let exists: Option<i64> = tx
                .query_row("SELECT 1 FROM functions WHERE name = ?1", [&name], |r| {
                    r.get(0)
                })
                .optional()?;
            if exists.is_none() {
                return Err(StoreError::NotFound(name));
            }
            let inserted = tx.execute(
                "INSERT INTO function_urls (function_name, url_id, config) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![name, url_id, json],
            )?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists(name));
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn get_url(&self, function: &FunctionName) -> Result<Option<FunctionUrlConfig>> {
        let name = function.to_string();
        self.with(move |c| {
            let json: Option<String> = c
                .query_row(
                    "SELECT config FROM function_urls WHERE function_name = ?1",
                    [&name],
                    |r| r.get(0),
                )
                .optional()?;
            json.as_deref().map(decode).transpose()
        })
        .await
    }

    async fn url_by_id(&self, url_id: &str) -> Result<Option<FunctionUrlConfig>> {
        let url_id = url_id.to_owned();
        self.with(move |c| {
            let json: Option<String> = c
                .query_row(
                    "SELECT config FROM function_urls WHERE url_id = ?1",
                    [&url_id],
                    |r| r.get(0),
                )
                .optional()?;
            json.as_deref().map(decode).transpose()
        })
        .await
    }

    async fn replace_url(&self, config: &FunctionUrlConfig) -> Result<()> {
        let json = serde_json::to_string(config)?;
        let name = config.function.to_string();
        self.with(move |c| {
            let updated = c.execute(
                "UPDATE function_urls SET config = ?2 WHERE function_name = ?1",
                params![name, json],
            )?;
            if updated == 0 {
                return Err(StoreError::NotFound(name));
            }
            Ok(())
        })
        .await
    }

    async fn delete_url(&self, function: &FunctionName) -> Result<()> {
        let name = function.to_string();
        self.with(move |c| {
            if c.execute(
                "DELETE FROM function_urls WHERE function_name = ?1",
                [&name],
            )? == 0
            {
                return Err(StoreError::NotFound(name));
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::function;
    use crate::FunctionStore;
    use kumo_types::{Cors, UrlAuthType};

    fn url(name: &str, id: &str) -> FunctionUrlConfig {
        FunctionUrlConfig {
            function: FunctionName::parse(name).expect("valid name"),
            url_id: id.into(),
            auth_type: UrlAuthType::None,
            cors: Some(Cors {
                allow_origins: Some(vec!["*".into()]),
                ..Cors::default()
            }),
            created_ms: 1,
            modified_ms: 1,
        }
    }

    #[tokio::test]
    async fn url_configs_follow_their_function() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("kumo.db")).expect("open");
        let a = url("f", "0123456789abcdef0123456789abcdef");
        assert!(matches!(
            store.create_url(&a).await,
            Err(StoreError::NotFound(_))
        ));
        store.create_function(&function("f")).await.expect("create");
        store.create_url(&a).await.expect("create url");
        assert!(matches!(
            store.create_url(&a).await,
            Err(StoreError::AlreadyExists(_))
        ));
        assert_eq!(
            store.url_by_id(&a.url_id).await.expect("by id"),
            Some(a.clone())
        );
        let mut b = a.clone();
        b.auth_type = UrlAuthType::AwsIam;
        b.modified_ms = 2;
        store.replace_url(&b).await.expect("replace");
        assert_eq!(
            store.get_url(&b.function).await.expect("get"),
            Some(b.clone())
        );
        store.delete_function(&b.function).await.expect("delete fn");
        assert_eq!(store.get_url(&b.function).await.expect("get"), None);
        assert_eq!(store.url_by_id(&b.url_id).await.expect("by id"), None);
        assert!(matches!(
            store.delete_url(&b.function).await,
            Err(StoreError::NotFound(_))
        ));
    }
}
