//! The backend conformance suite: one set of checks, written against the store's traits only, that
//! every backend must pass (the embedded SQLite store here; a networked backend later).
//!
//! Each `check_*` function drives one trait through every method and panics, naming what broke,
//! when the backend does not keep the contract the trait documents. [`check_all`] runs them all
//! on one backend. They use names with the given `prefix`, so a shared backend can run them next
//! to other data. This module is compiled into the library (not only under `cfg(test)`) so that a
//! backend in another crate can call it from its own tests.

use crate::{
    CodePackages, DeadLetter, EventInvokeConfig, EventQueue, FunctionChange, FunctionStore,
    LogEvent, LogStore, NewEvent, Outcome, Retry, Rule, RuleDeletion, RuleStore, StoreError,
    Target, UrlStore, UsageFilter, UsageGroup, UsageRecord, UsageStore,
};
use kumo_types::{FunctionConfig, FunctionName, FunctionUrlConfig, Runtime, UrlAuthType};
use std::collections::BTreeMap;
use std::time::Duration;

/// A valid function configuration named `name`, at revision `r1`.
pub fn function(name: &str) -> FunctionConfig {
    FunctionConfig {
        name: FunctionName::parse(name).expect("valid name"),
        runtime: Runtime::parse("python3.11").expect("valid runtime"),
        handler: "app.handler".into(),
        role: "arn:aws:iam::123456789012:role/r".into(),
        description: String::new(),
        memory_mb: 128,
        timeout_secs: 3,
        ephemeral_storage_mb: 512,
        environment: BTreeMap::new(),
        architecture: "x86_64".into(),
        code_sha256_hex: "00".into(),
        code_size: 1,
        last_modified_ms: 0,
        revision_id: "r1".into(),
        reserved_concurrency: None,
        tags: BTreeMap::new(),
        policy: Vec::new(),
        recursive_loop: None,
    }
}

fn name(s: &str) -> FunctionName {
    FunctionName::parse(s).expect("valid name")
}

/// Runs every check on one backend.
pub async fn check_all<S>(store: &S, prefix: &str)
where
    S: FunctionStore + EventQueue + RuleStore + UrlStore + LogStore + UsageStore,
{
    check_function_store(store, prefix).await;
    check_event_queue(store, store, prefix).await;
    check_rule_store(store, store, store, prefix).await;
    check_url_store(store, store, prefix).await;
    check_log_store(store, prefix).await;
    check_usage_store(store, prefix).await;
}

/// [`FunctionStore`]: create, read, compare-and-set replace, list in name order, delete, totals,
/// and the change feed.
pub async fn check_function_store(s: &dyn FunctionStore, prefix: &str) {
    let mut changes = s.watch();
    let (a, b) = (format!("{prefix}-fa"), format!("{prefix}-fb"));
    let mut fa = function(&a);
    fa.reserved_concurrency = Some(5);
    fa.code_size = 10;
    s.create_function(&fa).await.expect("create a");
    s.create_function(&function(&b)).await.expect("create b");
    assert!(
        matches!(
            s.create_function(&function(&a)).await,
            Err(StoreError::AlreadyExists(_))
        ),
        "a second create of the same name must fail with AlreadyExists"
    );
    assert_eq!(s.get_function(&name(&a)).await.expect("get a"), fa);
    assert!(matches!(
        s.get_function(&name(&format!("{prefix}-none"))).await,
        Err(StoreError::NotFound(_))
    ));

    // Compare-and-set on the revision.
    let mut fa2 = fa.clone();
    fa2.memory_mb = 256;
    fa2.revision_id = "r2".into();
    assert!(
        matches!(
            s.replace_function(&fa2, "stale").await,
            Err(StoreError::RevisionMismatch)
        ),
        "a replace with a stale revision must fail and change nothing"
    );
    assert_eq!(
        s.get_function(&name(&a)).await.expect("get a").memory_mb,
        128
    );
    s.replace_function(&fa2, "r1").await.expect("replace at r1");
    assert_eq!(s.get_function(&name(&a)).await.expect("get a"), fa2);
    assert!(matches!(
        s.replace_function(&function(&format!("{prefix}-none")), "r1")
            .await,
        Err(StoreError::NotFound(_))
    ));

    // Listing pages in name order.
    let listed: Vec<String> = s
        .list_functions(Some(&format!("{prefix}-")), 100)
        .await
        .expect("list")
        .into_iter()
        .map(|f| f.name.to_string())
        .filter(|n| n.starts_with(prefix))
        .collect();
    assert_eq!(listed, [a.clone(), b.clone()]);
    let page = s.list_functions(Some(&a), 1).await.expect("list after a");
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].name.as_str(), b);

    let (count, size) = s.usage().await.expect("usage");
    assert!(
        count >= 2 && size >= 11,
        "usage counts every function: {count} / {size}"
    );
    let others = s
        .reserved_concurrency_total(&name(&b))
        .await
        .expect("reserved");
    let without_a = s
        .reserved_concurrency_total(&name(&a))
        .await
        .expect("reserved");
    assert_eq!(
        others - without_a,
        5,
        "reserved concurrency of a counts unless excepted"
    );

    s.delete_function(&name(&b)).await.expect("delete b");
    assert!(matches!(
        s.get_function(&name(&b)).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.delete_function(&name(&b)).await,
        Err(StoreError::NotFound(_))
    ));

    // The change feed saw every committed change, in order, and nothing that failed.
    let mut seen = Vec::new();
    while let Ok(c) = changes.try_recv() {
        seen.push(c);
    }
    let put = |n: &str, r: &str| FunctionChange::Put {
        name: n.to_owned(),
        revision_id: r.to_owned(),
    };
    assert_eq!(
        seen,
        [
            put(&a, "r1"),
            put(&b, "r1"),
            put(&a, "r2"),
            FunctionChange::Deleted { name: b.clone() }
        ]
    );
    s.delete_function(&name(&a)).await.expect("delete a");
}

fn event(id: &str, function: &str, due_ms: i64) -> NewEvent {
    NewEvent {
        id: id.to_owned(),
        function: function.to_owned(),
        invoked_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
        payload: format!("{{\"id\":\"{id}\"}}").into_bytes(),
        client_context: None,
        trace_id: None,
        enqueued_ms: due_ms,
        due_ms,
    }
}

fn ids(events: &[crate::QueuedEvent]) -> Vec<&str> {
    events.iter().map(|e| e.id.as_str()).collect()
}

/// [`EventQueue`]: durable events, claims with leases (a lapsed claim can be taken over), retries,
/// completion with follow-ups and dead letters, replays, per-function settings, and everything
/// following its function.
pub async fn check_event_queue(q: &dyn EventQueue, f: &dyn FunctionStore, prefix: &str) {
    let fname = format!("{prefix}-q");
    f.create_function(&function(&fname)).await.expect("create");
    let id = |s: &str| format!("{prefix}-{s}");
    let lease = Duration::from_millis(1_000);
    q.enqueue(vec![
        event(&id("a"), &fname, 100),
        event(&id("b"), &fname, 200),
    ])
    .await
    .expect("enqueue");
    assert!(q.depth().await.expect("depth") >= 2);
    assert!(q.oldest_age().await.expect("age").is_some());
    let stats = q.queue_stats().await.expect("stats");
    let mine = stats
        .iter()
        .find(|s| s.function == fname)
        .expect("stats of the function");
    assert_eq!((mine.depth, mine.oldest_enqueued_ms), (2, 100));

    // Only due events are claimable; a claim holds them for its lease.
    assert!(q.due_functions(150).await.expect("due").contains(&fname));
    assert!(!q.due_functions(50).await.expect("due").contains(&fname));
    let first = q.claim(&fname, 150, 5, lease).await.expect("claim");
    assert_eq!(ids(&first), [id("a")]);
    assert!(q
        .claim(&fname, 150, 5, lease)
        .await
        .expect("claim")
        .is_empty());
    assert_eq!(q.next_due_after(150).await.expect("next"), Some(200));
    // a's claim lapses at 1,150: a dispatcher that claims later takes it over, with b.
    let later = q
        .claim(&fname, 1_200, 5, lease)
        .await
        .expect("claim after lease");
    assert_eq!(
        ids(&later),
        [id("a"), id("b")],
        "a lapsed claim must be claimable again"
    );
    assert_eq!(later[0].payload, event(&id("a"), &fname, 100).payload);
    q.complete(&id("b"), Vec::new(), None)
        .await
        .expect("complete b");

    // A retry goes back to the queue with its counters.
    let retry = Retry {
        due_ms: 5_000,
        attempts: 1,
        invoke_count: 1,
        throttles: 0,
    };
    q.retry(&id("a"), retry).await.expect("retry");
    assert!(q
        .claim(&fname, 1_300, 5, lease)
        .await
        .expect("claim")
        .is_empty());
    let again = q
        .claim(&fname, 5_000, 5, lease)
        .await
        .expect("claim retried");
    assert_eq!(ids(&again), [id("a")]);
    assert_eq!((again[0].attempts, again[0].invoke_count), (1, 1));

    // Completion stores what the end produced, in one step.
    let letter = DeadLetter {
        seq: 0,
        function: fname.clone(),
        request_id: id("a"),
        invoked_arn: "arn".into(),
        payload: b"{}".to_vec(),
        record: "{\"condition\":\"RetriesExhausted\"}".into(),
        enqueued_ms: 100,
        failed_ms: 5_000,
    };
    q.complete(&id("a"), vec![event(&id("c"), &fname, 5_000)], Some(letter))
        .await
        .expect("complete a");

    let letters = q.dead_letters(&fname).await.expect("dead letters");
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (letters[0].request_id.as_str(), letters[0].failed_ms),
        (id("a").as_str(), 5_000)
    );
    assert_eq!(
        ids(&q.claim(&fname, 5_000, 5, lease).await.expect("claim")),
        [id("c")]
    );
    // A completed event is gone: completing it again changes nothing.
    q.complete(&id("a"), vec![event(&id("x"), &fname, 0)], None)
        .await
        .expect("complete twice");
    assert!(q
        .claim(&fname, 9_000, 5, lease)
        .await
        .expect("claim")
        .iter()
        .all(|e| e.id != id("x")));

    // A restarting single node puts its claims back at once.
    assert!(q.recover().await.expect("recover") >= 1);
    assert_eq!(
        ids(&q.claim(&fname, 5_001, 5, lease).await.expect("claim")),
        [id("c")]
    );
    q.complete(&id("c"), Vec::new(), None)
        .await
        .expect("complete c");

    // Dead letters can be queued again.
    assert_eq!(
        q.replay_dead_letters(&fname, 6_000).await.expect("replay"),
        1
    );
    assert!(q
        .dead_letters(&fname)
        .await
        .expect("dead letters")
        .is_empty());
    let replayed = q
        .claim(&fname, 6_000, 5, lease)
        .await
        .expect("claim replayed");
    assert_eq!(replayed.len(), 1);
    q.complete(&replayed[0].id, Vec::new(), None)
        .await
        .expect("complete");

    // Per-function settings.
    let config = EventInvokeConfig {
        function: fname.clone(),
        max_retry_attempts: Some(1),
        max_event_age_secs: Some(600),
        on_success: None,
        on_failure: Some("arn:aws:lambda:us-east-1:123456789012:function:x".into()),
        last_modified_ms: 7,
    };
    q.put_event_config(&config).await.expect("put config");
    assert_eq!(
        q.get_event_config(&fname).await.expect("get config"),
        Some(config)
    );
    q.delete_event_config(&fname).await.expect("delete config");
    assert_eq!(q.get_event_config(&fname).await.expect("get config"), None);
    assert!(matches!(
        q.delete_event_config(&fname).await,
        Err(StoreError::NotFound(_))
    ));
    let mut ghost = EventInvokeConfig::clone(&EventInvokeConfig {
        function: format!("{prefix}-none"),
        max_retry_attempts: None,
        max_event_age_secs: None,
        on_success: None,
        on_failure: None,
        last_modified_ms: 0,
    });
    ghost.max_retry_attempts = Some(0);
    assert!(
        matches!(
            q.put_event_config(&ghost).await,
            Err(StoreError::NotFound(_))
        ),
        "settings of a function that does not exist are refused"
    );
    q.set_dead_letter_target(&fname, Some("arn:dlq"))
        .await
        .expect("set target");
    assert_eq!(
        q.dead_letter_target(&fname)
            .await
            .expect("target")
            .as_deref(),
        Some("arn:dlq")
    );
    q.set_dead_letter_target(&fname, None)
        .await
        .expect("clear target");
    assert_eq!(q.dead_letter_target(&fname).await.expect("target"), None);

    // Queued events of a function can be dropped; everything follows a deleted function.
    q.enqueue(vec![event(&id("d"), &fname, 0)])
        .await
        .expect("enqueue");
    assert_eq!(q.discard_function(&fname).await.expect("discard"), 1);
    q.enqueue(vec![event(&id("e"), &fname, 0)])
        .await
        .expect("enqueue");
    q.put_event_config(&EventInvokeConfig {
        function: fname.clone(),
        max_retry_attempts: Some(0),
        max_event_age_secs: None,
        on_success: None,
        on_failure: None,
        last_modified_ms: 0,
    })
    .await
    .expect("put config");
    f.delete_function(&name(&fname))
        .await
        .expect("delete function");
    assert!(!q
        .due_functions(i64::MAX / 2)
        .await
        .expect("due")
        .contains(&fname));
    assert_eq!(q.get_event_config(&fname).await.expect("config"), None);
}

/// [`RuleStore`]: rules and targets, deletion rules, and firing (which queues events atomically
/// and only once per tick).
pub async fn check_rule_store(
    r: &dyn RuleStore,
    q: &dyn EventQueue,
    f: &dyn FunctionStore,
    prefix: &str,
) {
    let fname = format!("{prefix}-r");
    f.create_function(&function(&fname)).await.expect("create");
    let rule = |n: &str, next: Option<i64>| Rule {
        name: format!("{prefix}-{n}"),
        schedule: "rate(1 minute)".into(),
        description: Some("d".into()),
        enabled: next.is_some(),
        role_arn: None,
        created_ms: 1,
        next_fire_ms: next,
    };
    r.put_rule(&rule("one", Some(60_000)))
        .await
        .expect("put one");
    r.put_rule(&rule("two", None)).await.expect("put two");
    assert_eq!(
        r.get_rule(&format!("{prefix}-one")).await.expect("get"),
        Some(rule("one", Some(60_000)))
    );
    assert_eq!(
        r.get_rule(&format!("{prefix}-none")).await.expect("get"),
        None
    );
    let listed: Vec<String> = r
        .list_rules(prefix, "", 10)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(listed, [format!("{prefix}-one"), format!("{prefix}-two")]);
    let after: Vec<String> = r
        .list_rules(prefix, &format!("{prefix}-one"), 10)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(after, [format!("{prefix}-two")]);

    let one = format!("{prefix}-one");
    let target = Target {
        id: "t1".into(),
        arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{fname}"),
        input: Some("{\"k\":1}".into()),
    };
    r.put_targets(&one, std::slice::from_ref(&target))
        .await
        .expect("put targets");
    assert!(matches!(
        r.put_targets(&format!("{prefix}-none"), std::slice::from_ref(&target))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        r.targets(&one).await.expect("targets"),
        std::slice::from_ref(&target)
    );
    assert_eq!(
        r.delete_rule(&one).await.expect("delete"),
        RuleDeletion::HasTargets
    );

    // Firing: due rules come with their targets; one tick fires once.
    let due = r.due_rules(60_000).await.expect("due");
    assert!(due
        .iter()
        .any(|(rule, t)| rule.name == one && t == &vec![target.clone()]));
    assert!(!r
        .due_rules(59_999)
        .await
        .expect("due")
        .iter()
        .any(|(rule, _)| rule.name == one));
    assert!(r
        .next_fire()
        .await
        .expect("next fire")
        .is_some_and(|t| t <= 60_000));
    let fired = r
        .fire(
            &one,
            60_000,
            Some(120_000),
            vec![event(&format!("{prefix}-tick"), &fname, 60_000)],
        )
        .await
        .expect("fire");
    assert!(fired);
    assert!(
        !r.fire(
            &one,
            60_000,
            Some(120_000),
            vec![event(&format!("{prefix}-tick2"), &fname, 60_000)]
        )
        .await
        .expect("fire again"),
        "the same tick must not fire twice"
    );
    let queued = q
        .claim(&fname, 60_000, 10, Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(ids(&queued), [format!("{prefix}-tick")]);
    assert_eq!(
        r.get_rule(&one)
            .await
            .expect("get")
            .and_then(|r| r.next_fire_ms),
        Some(120_000)
    );

    assert_eq!(
        r.remove_targets(&one, &["t1".into(), "nope".into()])
            .await
            .expect("remove"),
        ["t1".to_owned()]
    );
    assert_eq!(
        r.delete_rule(&one).await.expect("delete"),
        RuleDeletion::Deleted
    );
    assert_eq!(
        r.delete_rule(&one).await.expect("delete"),
        RuleDeletion::NotFound
    );
    assert_eq!(
        r.delete_rule(&format!("{prefix}-two"))
            .await
            .expect("delete"),
        RuleDeletion::Deleted
    );
    f.delete_function(&name(&fname))
        .await
        .expect("delete function");
}

/// [`UrlStore`]: one URL configuration per existing function, found by function and by id, and
/// gone with its function.
pub async fn check_url_store(u: &dyn UrlStore, f: &dyn FunctionStore, prefix: &str) {
    let fname = format!("{prefix}-u");
    let url = |id: &str| FunctionUrlConfig {
        function: name(&fname),
        url_id: id.to_owned(),
        auth_type: UrlAuthType::None,
        cors: None,
        created_ms: 1,
        modified_ms: 1,
    };
    let id = format!(
        "{:0>32}",
        prefix
            .bytes()
            .map(|b| format!("{}", b % 10))
            .collect::<String>()
    );
    let id = id[id.len() - 32..].to_owned();
    assert!(
        matches!(u.create_url(&url(&id)).await, Err(StoreError::NotFound(_))),
        "a URL for a function that does not exist is refused"
    );
    f.create_function(&function(&fname)).await.expect("create");
    u.create_url(&url(&id)).await.expect("create url");
    assert!(matches!(
        u.create_url(&url(&id)).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(u.get_url(&name(&fname)).await.expect("get"), Some(url(&id)));
    assert_eq!(u.url_by_id(&id).await.expect("by id"), Some(url(&id)));
    let mut changed = url(&id);
    changed.auth_type = UrlAuthType::AwsIam;
    changed.modified_ms = 2;
    u.replace_url(&changed).await.expect("replace");
    assert_eq!(u.get_url(&name(&fname)).await.expect("get"), Some(changed));
    u.delete_url(&name(&fname)).await.expect("delete url");
    assert!(matches!(
        u.delete_url(&name(&fname)).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        u.replace_url(&url(&id)).await,
        Err(StoreError::NotFound(_))
    ));
    u.create_url(&url(&id)).await.expect("create again");
    f.delete_function(&name(&fname))
        .await
        .expect("delete function");
    assert_eq!(
        u.url_by_id(&id).await.expect("by id"),
        None,
        "a URL goes with its function"
    );
}

/// [`LogStore`]: events appended per stream come back in order.
pub async fn check_log_store(l: &dyn LogStore, prefix: &str) {
    let group = format!("/aws/lambda/{prefix}-l");
    let ev = |t: i64, m: &str| LogEvent {
        timestamp_ms: t,
        message: m.to_owned(),
    };
    l.append_logs(&group, "s1", vec![ev(1, "one"), ev(2, "two")])
        .await
        .expect("append");
    l.append_log_batch(vec![
        (group.clone(), "s1".into(), vec![ev(3, "three")]),
        (group.clone(), "s2".into(), vec![ev(1, "other")]),
    ])
    .await
    .expect("append batch");
    assert_eq!(
        l.stream_events(&group, "s1").await.expect("stream"),
        [ev(1, "one"), ev(2, "two"), ev(3, "three")]
    );
    assert_eq!(
        l.stream_events(&group, "s2").await.expect("stream"),
        [ev(1, "other")]
    );
    assert!(l
        .stream_events(&group, "none")
        .await
        .expect("stream")
        .is_empty());
}

/// [`UsageStore`]: records add up per function and in total.
pub async fn check_usage_store(u: &dyn UsageStore, prefix: &str) {
    let fname = format!("{prefix}-usage");
    let record = |id: &str, outcome: Outcome, billed: i64| UsageRecord {
        function: fname.clone(),
        version: "$LATEST".into(),
        request_id: id.to_owned(),
        start_ms: 1_000,
        duration_us: billed * 1000,
        billed_ms: billed,
        memory_mb: 128,
        max_memory_mb: 30,
        init_us: None,
        cold: id == "r1",
        outcome,
        error_type: None,
    };
    u.record_usage(record("r1", Outcome::Success, 10))
        .await
        .expect("record");
    u.record_usage_batch(vec![
        record("r2", Outcome::Handled, 5),
        record("r3", Outcome::Throttled, 0),
    ])
    .await
    .expect("record batch");
    let filter = UsageFilter {
        function: Some(fname.clone()),
        since: None,
        until: None,
    };
    let sums = u
        .usage_summary(filter, UsageGroup::Function)
        .await
        .expect("summary");
    assert_eq!(sums.len(), 1);
    let s = &sums[0];
    assert_eq!(s.key, fname);
    assert_eq!(
        (s.requests, s.throttles, s.errors, s.cold_starts),
        (2, 1, 1, 1)
    );
    assert_eq!((s.billed_ms, s.mb_ms), (15, 15 * 128));
}

fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("zip entry");
        zip.write_all(body.as_bytes()).expect("zip write");
    }
    zip.finish().expect("zip").into_inner()
}

/// [`CodePackages`]: content addressing, reading back, the unpacked tree, listing, removal, and
/// refusing what is not a package.
pub async fn check_code_packages(c: &dyn CodePackages, prefix: &str) {
    let body = format!("print('{prefix}')\n");
    let zip = zip_of(&[("app.py", &body), ("pkg/mod.py", "x = 1\n")]);
    let info = c.put(zip.clone()).await.expect("put");
    assert_eq!(info.size, zip.len() as u64);
    assert_eq!(info.sha256_hex.len(), 64);
    assert_eq!(
        c.put(zip.clone()).await.expect("put again"),
        info,
        "same bytes, same package"
    );
    assert_eq!(c.read(&info.sha256_hex).await.expect("read"), Some(zip));
    assert_eq!(c.read(&"0".repeat(64)).await.expect("read missing"), None);
    let tree = c.unpacked(&info.sha256_hex).await.expect("unpacked");
    assert_eq!(
        std::fs::read_to_string(tree.join("app.py")).expect("app.py"),
        body
    );
    assert!(tree.join("pkg/mod.py").is_file());
    assert!(c
        .packages()
        .await
        .expect("packages")
        .contains(&info.sha256_hex));
    assert!(matches!(
        c.put(b"not a zip".to_vec()).await,
        Err(StoreError::InvalidPackage(_))
    ));
    let slip = zip_of(&[("../evil", "x")]);
    assert!(matches!(
        c.put(slip).await,
        Err(StoreError::InvalidPackage(_))
    ));
    c.remove(&info.sha256_hex).await.expect("remove");
    assert_eq!(c.read(&info.sha256_hex).await.expect("read removed"), None);
    assert!(!c
        .packages()
        .await
        .expect("packages")
        .contains(&info.sha256_hex));
    c.remove(&info.sha256_hex)
        .await
        .expect("removing twice is not an error");
}
