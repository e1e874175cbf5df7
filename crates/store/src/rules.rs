//! Scheduled rules (EventBridge `PutRule` with a `ScheduleExpression`) and their targets.
//!
//! Each rule keeps the time of its next firing (`next_fire_ms`, null while disabled). Firing a
//! rule is one transaction that moves `next_fire_ms` on and queues one event per target
//! ([`crate::EventQueue`]), so a tick is queued exactly once even if the process dies around it,
//! and a rule whose tick passed while Kumo was down fires once when it starts again. The store
//! knows nothing about schedule syntax: the caller computes the next firing time.

use crate::events::{insert_events, NewEvent};
use crate::{Result, SqliteStore, StoreError};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS event_rules (
    name         TEXT PRIMARY KEY,
    schedule     TEXT NOT NULL,
    description  TEXT,
    enabled      INTEGER NOT NULL,
    role_arn     TEXT,
    created_ms   INTEGER NOT NULL,
    next_fire_ms INTEGER
);
CREATE TABLE IF NOT EXISTS event_targets (
    rule_name TEXT NOT NULL,
    target_id TEXT NOT NULL,
    arn       TEXT NOT NULL,
    input     TEXT,
    PRIMARY KEY (rule_name, target_id)
);
";

/// Creates the tables if missing; part of opening the SQLite store.
pub(crate) fn create_schema(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)
}

/// A scheduled rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    /// `rate(...)` or `cron(...)`, as given.
    pub schedule: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub role_arn: Option<String>,
    pub created_ms: i64,
    /// When the rule fires next (ms since the Unix epoch); `None` while disabled.
    pub next_fire_ms: Option<i64>,
}

/// Where a rule's events go: a function ARN and, optionally, a fixed JSON input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: String,
    pub arn: String,
    pub input: Option<String>,
}

/// What [`RuleStore::delete_rule`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleDeletion {
    Deleted,
    NotFound,
    HasTargets,
}

/// Scheduled rules and their targets.
#[async_trait]
pub trait RuleStore: Send + Sync + 'static {
    /// Creates or replaces a rule (its targets are kept).
    async fn put_rule(&self, rule: &Rule) -> Result<()>;
    async fn get_rule(&self, name: &str) -> Result<Option<Rule>>;
    /// Rules whose name starts with `prefix`, in name order after `after`, at most `limit`.
    async fn list_rules(&self, prefix: &str, after: &str, limit: usize) -> Result<Vec<Rule>>;
    /// Refuses to delete a rule that still has targets (EventBridge's rule).
    async fn delete_rule(&self, name: &str) -> Result<RuleDeletion>;
    /// Adds or replaces targets by id; `NotFound` if the rule does not exist.
    async fn put_targets(&self, rule: &str, targets: &[Target]) -> Result<()>;
    /// Removes targets by id; `NotFound` if the rule does not exist. Returns the ids removed.
    async fn remove_targets(&self, rule: &str, ids: &[String]) -> Result<Vec<String>>;
    async fn targets(&self, rule: &str) -> Result<Vec<Target>>;
    /// Enabled rules due at `now_ms`, with their targets.
    async fn due_rules(&self, now_ms: i64) -> Result<Vec<(Rule, Vec<Target>)>>;
    /// Moves a rule from the firing at `fired_ms` to `next_ms` and queues `events`, in one
    /// transaction; does nothing (returns false) if the rule changed meanwhile.
    async fn fire(
        &self,
        rule: &str,
        fired_ms: i64,
        next_ms: Option<i64>,
        events: Vec<NewEvent>,
    ) -> Result<bool>;
    /// The earliest next firing of any enabled rule.
    async fn next_fire(&self) -> Result<Option<i64>>;
}

fn rule_from(r: &Row<'_>) -> rusqlite::Result<Rule> {
    Ok(Rule {
        name: r.get(0)?,
        schedule: r.get(1)?,
        description: r.get(2)?,
        enabled: r.get(3)?,
        role_arn: r.get(4)?,
        created_ms: r.get(5)?,
        next_fire_ms: r.get(6)?,
    })
}

const RULE_COLUMNS: &str =
    "name, schedule, description, enabled, role_arn, created_ms, next_fire_ms";

fn targets_of(c: &Connection, rule: &str) -> rusqlite::Result<Vec<Target>> {
    let mut stmt = c.prepare_cached(
        "SELECT target_id, arn, input FROM event_targets WHERE rule_name = ?1 ORDER BY target_id",
    )?;
    let rows = stmt.query_map([rule], |r| {
        Ok(Target {
            id: r.get(0)?,
            arn: r.get(1)?,
            input: r.get(2)?,
        })
    })?;
    rows.collect()
}

fn rule_exists(c: &Connection, name: &str) -> rusqlite::Result<bool> {
    Ok(
        c.query_row("SELECT 1 FROM event_rules WHERE name = ?1", [name], |_| {
            Ok(())
        })
        .optional()?
        .is_some(),
    )
}

#[async_trait]
impl RuleStore for SqliteStore {
    async fn put_rule(&self, rule: &Rule) -> Result<()> {
        let r = rule.clone();
        self.with(move |c| {
            c.execute(
                "INSERT INTO event_rules (name, schedule, description, enabled, role_arn, created_ms, next_fire_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (name) DO UPDATE SET schedule = excluded.schedule, description = excluded.description,
                   enabled = excluded.enabled, role_arn = excluded.role_arn, next_fire_ms = excluded.next_fire_ms",
                params![r.name, r.schedule, r.description, r.enabled, r.role_arn, r.created_ms, r.next_fire_ms],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_rule(&self, name: &str) -> Result<Option<Rule>> {
        let name = name.to_owned();
        self.with(move |c| {
            Ok(c.query_row(
                &format!("SELECT {RULE_COLUMNS} FROM event_rules WHERE name = ?1"),
                [name],
                rule_from,
            )
            .optional()?)
        })
        .await
    }

    async fn list_rules(&self, prefix: &str, after: &str, limit: usize) -> Result<Vec<Rule>> {
        let (prefix, after) = (prefix.to_owned(), after.to_owned());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {RULE_COLUMNS} FROM event_rules WHERE substr(name, 1, length(?1)) = ?1 AND name > ?2 ORDER BY name LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![prefix, after, limit], rule_from)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn delete_rule(&self, name: &str) -> Result<RuleDeletion> {
        let name = name.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            if !rule_exists(&tx, &name)? {
                return Ok(RuleDeletion::NotFound);
            }
            if !targets_of(&tx, &name)?.is_empty() {
                return Ok(RuleDeletion::HasTargets);
            }
            tx.execute("DELETE FROM event_rules WHERE name = ?1", [&name])?;
            tx.commit()?;
            Ok(RuleDeletion::Deleted)
        })
        .await
    }

    async fn put_targets(&self, rule: &str, targets: &[Target]) -> Result<()> {
        let (rule, targets) = (rule.to_owned(), targets.to_vec());
        self.with(move |c| {
            let tx = c.transaction()?;
            if !rule_exists(&tx, &rule)? {
                return Err(StoreError::NotFound(rule));
            }
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO event_targets (rule_name, target_id, arn, input) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (rule_name, target_id) DO UPDATE SET arn = excluded.arn, input = excluded.input",
                )?;
                for t in &targets {
                    stmt.execute(params![rule, t.id, t.arn, t.input])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn remove_targets(&self, rule: &str, ids: &[String]) -> Result<Vec<String>> {
        let (rule, ids) = (rule.to_owned(), ids.to_vec());
        self.with(move |c| {
            let tx = c.transaction()?;
            if !rule_exists(&tx, &rule)? {
                return Err(StoreError::NotFound(rule));
            }
            let mut removed = Vec::new();
            for id in ids {
                if tx.execute(
                    "DELETE FROM event_targets WHERE rule_name = ?1 AND target_id = ?2",
                    params![rule, id],
                )? > 0
                {
                    removed.push(id);
                }
            }
            tx.commit()?;
            Ok(removed)
        })
        .await
    }

    async fn targets(&self, rule: &str) -> Result<Vec<Target>> {
        let rule = rule.to_owned();
        self.with(move |c| Ok(targets_of(c, &rule)?)).await
    }

    async fn due_rules(&self, now_ms: i64) -> Result<Vec<(Rule, Vec<Target>)>> {
        self.with(move |c| {
            let rules = {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {RULE_COLUMNS} FROM event_rules WHERE enabled AND next_fire_ms <= ?1 ORDER BY next_fire_ms"
                ))?;
                let rows = stmt.query_map([now_ms], rule_from)?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            let mut out = Vec::with_capacity(rules.len());
            for rule in rules {
                let targets = targets_of(c, &rule.name)?;
                out.push((rule, targets));
            }
            Ok(out)
        })
        .await
    }

    async fn fire(
        &self,
        rule: &str,
        fired_ms: i64,
        next_ms: Option<i64>,
        events: Vec<NewEvent>,
    ) -> Result<bool> {
        let rule = rule.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            let moved = tx.execute(
                "UPDATE event_rules SET next_fire_ms = ?3 WHERE name = ?1 AND enabled AND next_fire_ms = ?2",
                params![rule, fired_ms, next_ms],
            )?;
            if moved == 0 {
                return Ok(false);
            }
            insert_events(&tx, &events)?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn next_fire(&self) -> Result<Option<i64>> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT MIN(next_fire_ms) FROM event_rules WHERE enabled",
                [],
                |r| r.get::<_, Option<i64>>(0),
            )?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventQueue;

    fn rule(name: &str, next: Option<i64>) -> Rule {
        Rule {
            name: name.into(),
            schedule: "rate(1 minute)".into(),
            description: None,
            enabled: next.is_some(),
            role_arn: None,
            created_ms: 0,
            next_fire_ms: next,
        }
    }

    fn target(id: &str) -> Target {
        Target {
            id: id.into(),
            arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
            input: None,
        }
    }

    #[tokio::test]
    async fn a_tick_fires_once_and_queues_its_events() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("kumo.db")).expect("open");
        store.put_rule(&rule("r", Some(1000))).await.expect("put");
        store.put_rule(&rule("off", None)).await.expect("put");
        store
            .put_targets("r", &[target("t")])
            .await
            .expect("targets");
        assert!(matches!(
            store.put_targets("nope", &[target("t")]).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(store.due_rules(999).await.expect("due").is_empty());
        let due = store.due_rules(5000).await.expect("due");
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1, vec![target("t")]);
        let ev = NewEvent {
            id: "e".into(),
            function: "f".into(),
            invoked_arn: "arn".into(),
            payload: b"{}".to_vec(),
            client_context: None,
            trace_id: None,
            enqueued_ms: 1000,
            due_ms: 1000,
        };
        assert!(store
            .fire("r", 1000, Some(61_000), vec![ev.clone()])
            .await
            .expect("fire"));
        // The same tick again (a second scheduler, a stale read) queues nothing.
        assert!(!store
            .fire("r", 1000, Some(61_000), vec![ev])
            .await
            .expect("fire"));
        assert_eq!(store.depth().await.expect("depth"), 1);
        assert_eq!(store.next_fire().await.expect("next"), Some(61_000));
        assert_eq!(
            store.delete_rule("r").await.expect("delete"),
            RuleDeletion::HasTargets
        );
        assert_eq!(
            store
                .remove_targets("r", &["t".into(), "x".into()])
                .await
                .expect("remove"),
            vec!["t".to_owned()]
        );
        assert_eq!(
            store.delete_rule("r").await.expect("delete"),
            RuleDeletion::Deleted
        );
        let listed = store.list_rules("o", "", 10).await.expect("list");
        assert_eq!(listed, vec![rule("off", None)]);
    }
}
