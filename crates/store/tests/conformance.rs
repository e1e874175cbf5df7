//! The embedded SQLite store held to the backend conformance suite (`kumo_store::conformance`).

use kumo_store::{conformance, CodeStore, SqliteStore};

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("kumo.db")).expect("open");
    (dir, store)
}

#[tokio::test]
async fn sqlite_function_store() {
    let (_dir, s) = store();
    conformance::check_function_store(&s, "c").await;
}

#[tokio::test]
async fn sqlite_event_queue() {
    let (_dir, s) = store();
    conformance::check_event_queue(&s, &s, "c").await;
}

#[tokio::test]
async fn sqlite_rule_store() {
    let (_dir, s) = store();
    conformance::check_rule_store(&s, &s, &s, "c").await;
}

#[tokio::test]
async fn sqlite_url_store() {
    let (_dir, s) = store();
    conformance::check_url_store(&s, &s, "c").await;
}

#[tokio::test]
async fn sqlite_log_and_usage_stores() {
    let (_dir, s) = store();
    conformance::check_log_store(&s, "c").await;
    conformance::check_usage_store(&s, "c").await;
}

#[tokio::test]
async fn sqlite_passes_the_whole_suite_on_one_store() {
    let (_dir, s) = store();
    conformance::check_all(&s, "all").await;
}

#[tokio::test]
async fn code_store_packages() {
    let dir = tempfile::tempdir().expect("temp dir");
    let code = CodeStore::open(dir.path()).expect("open");
    conformance::check_code_packages(&code, "c").await;
}
