//! `kumo serve`: the composition root that wires store, engine and API together.

use crate::config::Settings;
use anyhow::{bail, Context, Result};
use kumo_api::AppState;
use kumo_engine::{Engine, EngineConfig, RuntimeCommands, SandboxConfig};
use kumo_store::{CodePackages, CodeStore, FunctionStore, SqliteStore};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// A name for this server's cgroups, stable for its data directory, so that a restart finds
/// (and cleans) what a crashed run of the same server left, and never another server's.
fn instance_name(data_dir: &Path) -> Result<String> {
    use std::hash::{Hash, Hasher};
    let canonical = data_dir
        .canonicalize()
        .with_context(|| format!("while resolving {}", data_dir.display()))?;
    let mut hasher = std::hash::DefaultHasher::new();
    canonical.hash(&mut hasher);
    Ok(format!("{:016x}", hasher.finish()))
}

/// Checks that environments can have filtered outbound access: slirp4netns runs, and nft loads the
/// outbound filter into a namespace (which also shows the kernel has nftables).
fn outbound_config(settings: &Settings) -> Result<kumo_engine::OutboundConfig> {
    let none_hint = "set sandbox.network = \"none\" to give environments loopback only";
    if !kumo_sandbox::outbound_available("slirp4netns") {
        bail!("sandbox.network = \"outbound\" needs slirp4netns (apt-get install slirp4netns); {none_hint}");
    }
    let Some(firewall) = kumo_sandbox::Firewall::new(settings.allow_outbound.clone()) else {
        bail!("sandbox.network = \"outbound\" needs nft to filter what environments reach (apt-get install nftables); {none_hint}");
    };
    let scratch = kumo_sandbox::NetNs::new().context("while making a network namespace")?;
    firewall.install(&scratch).with_context(|| {
        format!("sandbox.network = \"outbound\" needs nftables in the kernel; {none_hint}")
    })?;
    let allow: Vec<String> = firewall.allow().iter().map(ToString::to_string).collect();
    tracing::info!(
        ?allow,
        "outbound network filtered (private, link-local and host addresses refused)"
    );
    Ok(kumo_engine::OutboundConfig {
        program: "slirp4netns".to_owned(),
        firewall,
    })
}

/// Checks that environments can be isolated; refuses to go on without isolation unless the
/// operator said so explicitly. The uid range returned with the config must be kept while the
/// server runs (it holds this server's claim on it).
fn sandbox_config(
    settings: &Settings,
    insecure: bool,
) -> Result<(Option<SandboxConfig>, Option<crate::uids::UidRange>)> {
    if insecure {
        tracing::warn!("--insecure-no-sandbox: function code runs as bare processes with Kumo's own privileges");
        return Ok((None, None));
    }
    match kumo_sandbox::probe() {
        Ok(cgroups) => {
            let instance = instance_name(&settings.data_dir)?;
            let removed = kumo_sandbox::Cgroups::clean_leftovers(&cgroups, &instance);
            if removed > 0 {
                tracing::info!(removed, "removed environments left by a previous run");
            }
            kumo_sandbox::Cgroups::prepare_instance(&cgroups, &instance)
                .context("while preparing the cgroups of this server")?;
            let outbound = if settings.outbound_network {
                Some(outbound_config(settings)?)
            } else {
                None
            };
            let tmp_disks = if settings.tmp_on_disk {
                if let Err(missing) = kumo_sandbox::tmpdisk_available() {
                    bail!("sandbox.tmp = \"disk\" needs loop devices and mkfs.ext4: {missing}; set sandbox.tmp = \"memory\" to give environments a tmpfs /tmp (counted against their memory)");
                }
                Some(kumo_engine::TmpDiskPool::new(
                    settings.data_dir.join("envs"),
                    settings.prepared_networks,
                ))
            } else {
                None
            };
            let uids =
                crate::uids::claim(settings.sandbox_uid_base, settings.sandbox_uid_count.max(1))
                    .context("while choosing the uids of environments")?;
            tracing::info!(
                ?cgroups,
                outbound = outbound.is_some(),
                tmp_on_disk = tmp_disks.is_some(),
                uid_base = uids.base,
                uid_slot = ?uids.slot,
                "environments are sandboxed"
            );
            let config = Some(SandboxConfig {
                cgroups,
                uid_base: uids.base,
                uid_count: settings.sandbox_uid_count,
                cpu_hard_limit: settings.cpu_hard_limit,
                instance,
                outbound: outbound.as_ref().map(|o| o.program.clone()),
                networks: kumo_engine::NetworkPool::new(outbound, settings.prepared_networks),
                tmp_disks,
            });
            Ok((config, Some(uids)))
        }
        Err(missing) => bail!(
            "cannot isolate function environments on this machine:\n  - {}\nRun kumo serve as root on a kernel with namespaces, cgroups and seccomp, or pass --insecure-no-sandbox to run function code unisolated (trusted code only).",
            missing.join("\n  - ")
        ),
    }
}

pub async fn run(settings: Settings, insecure_no_sandbox: bool) -> Result<()> {
    let data_dir = &settings.data_dir;
    // First of all: the directory's cgroups, events and database may belong to a running server.
    let _lock = crate::datadir::DataDirLock::acquire(data_dir)?;
    crate::datadir::make_private(data_dir)?;
    let (inherited_open_files, open_files) = raise_open_files_limit();
    if open_files.is_some_and(|n| n < settings.http.max_connections as u64 + 1024) {
        tracing::warn!(
            open_files,
            max_connections = settings.http.max_connections,
            "the open files limit leaves little room above server.max_connections; raise the hard limit (ulimit -Hn) or lower server.max_connections"
        );
    }
    let (sandbox, _uids) = sandbox_config(&settings, insecure_no_sandbox)?;
    let instance = sandbox
        .as_ref()
        .map(|s| (s.cgroups.clone(), s.instance.clone()));
    let auth = crate::auth::server_auth(&settings.auth, data_dir)?;
    let store = SqliteStore::open(&data_dir.join("kumo.db"))
        .with_context(|| format!("while opening the database in {}", data_dir.display()))?;
    let code: Arc<dyn CodePackages> =
        Arc::new(CodeStore::open(data_dir).context("while opening the code store")?);
    let runtime_dir = data_dir.join("runtime");
    let prepared = crate::runtimes::prepare(&settings, &runtime_dir, sandbox.is_some())?;
    let runtimes = prepared.names.clone();

    let none = kumo_types::FunctionName::parse("-").ok();
    let reserved_total = match &none {
        Some(n) => store
            .reserved_concurrency_total(n)
            .await
            .context("while reading reserved concurrency")?,
        None => 0,
    };
    let engine = Engine::new(
        EngineConfig {
            region: settings.region.clone(),
            account_id: settings.account_id.clone(),
            account_concurrency: settings.account_concurrency,
            idle_timeout: settings.idle_timeout,
            init_timeout: settings.init_timeout,
            scratch_dir: data_dir.join("envs"),
            commands: RuntimeCommands {
                python: settings.python.clone(),
                node: settings.node.clone(),
                java: prepared.java,
                dotnet: prepared.dotnet,
                python_bootstrap: prepared.python_bootstrap,
                open_files: inherited_open_files,
                bootstrap_dir: runtime_dir
                    .canonicalize()
                    .context("while resolving the runtime directory")?,
            },
            sandbox,
            log_capture: settings.telemetry.capture,
        },
        code.clone(),
        Arc::new(store.clone()),
        reserved_total,
    );
    let urls: Arc<dyn kumo_store::UrlStore> = Arc::new(store.clone());
    let telemetry = crate::telemetry::app_telemetry(&settings.telemetry, &store, &engine);
    let events = kumo_events::Events::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        engine.clone(),
        kumo_events::Account {
            region: settings.region.clone(),
            account_id: settings.account_id.clone(),
            concurrency: settings.account_concurrency,
        },
        settings.events.clone(),
    );
    let state = AppState {
        urls,
        store: Arc::new(store),
        code,
        engine: engine.clone(),
        region: settings.region.clone(),
        account_id: settings.account_id.clone(),
        account_concurrency: settings.account_concurrency,
        runtimes: Arc::new(runtimes.clone()),
        telemetry,
        events,
        spool: kumo_api::spool::Spool::new(
            data_dir.join("spool"),
            kumo_api::spool::SpoolLimits::default(),
        ),
        code_links: kumo_api::code_link::CodeLinks::new(
            &settings.region,
            settings.code_link_lifetime,
        ),
    };
    let app = kumo_api::router(state.clone());
    // Queued events (including those a crash left running) and schedules start running now.
    let workers = kumo_events::start(state.events.clone());
    kumo_api::spawn_code_gc(
        state.clone(),
        settings.code_gc_interval,
        settings.code_gc_grace,
    );
    // Function URLs and SigV4 authentication stand in front of every route.
    let app = kumo_api::front(app, state, auth);
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("while binding {}", settings.listen))?;
    let addr = listener
        .local_addr()
        .context("while reading the bound address")?;
    tracing::info!(%addr, runtimes = ?runtimes, data_dir = %data_dir.display(), "kumo ready");
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "kumo listening on http://{addr}")?;
        out.flush()?;
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Connection cap, header-read and keep-alive timeouts: idle or slow clients cannot hold the
    // server's file descriptors (requests in progress are never cut).
    let server = kumo_http::serve(listener, app, settings.http, {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    });
    let server = tokio::spawn(server);
    shutdown_signal().await?;
    tracing::info!("shutting down: finishing running invocations");
    let _ = stop_tx.send(true);
    workers.stop().await;
    // In-flight requests (and their invocations) get the grace period; then everything stops.
    let grace = settings.shutdown_grace;
    let drained = tokio::time::timeout(grace, server).await;
    engine.shutdown(std::time::Duration::from_millis(100)).await;
    if let Some((cgroups, instance)) = instance {
        tokio::task::spawn_blocking(move || {
            kumo_sandbox::Cgroups::remove_instance(&cgroups, &instance)
        })
        .await
        .ok();
    }
    match drained {
        Ok(Ok(())) => {}
        Ok(Err(e)) => bail!("server task failed: {e}"),
        Err(_) => tracing::warn!("grace period over; open requests were cut"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Raises this process's soft limit of open files to its hard limit: every connection, every
/// environment's Runtime API listener, log pipe and namespace handle is a descriptor, and the
/// usual soft limit (1024) is far below what a busy server holds. Sandboxed environments set
/// their own limit; runtimes without the sandbox get the soft limit the server had. Returns
/// the soft limit the server had if it raised it, and the limit now in force.
#[allow(unsafe_code)]
fn raise_open_files_limit() -> (Option<u64>, Option<u64>) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the rlimit struct we pass.
    let soft;
    let raised = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return (None, None);
        }
        soft = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max;
        soft < limit.rlim_max && libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0
    };
    if raised {
        tracing::debug!(open_files = limit.rlim_max, "raised the open files limit");
        (Some(soft), Some(limit.rlim_max))
    } else {
        (None, Some(soft))
    }
}

async fn shutdown_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term =
        signal(SignalKind::terminate()).context("while installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("while installing the SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    Ok(())
}
