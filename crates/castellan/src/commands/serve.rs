//! `castellan serve` (the API and an in-process worker) and `castellan worker`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use castellan_server::AppState;
use castellan_services::worker::{self, WorkerHealth};
use castellan_store::Store;

use super::{create_store, services, settings, shutdown_signal, worker_config};
use crate::config::Config;

/// Serves the API (and a supervised worker when configured) until a shutdown signal.
/// `default_api_base`: where new apps' APIs are when the wizard leaves the field empty (the
/// demo's emulators).
pub(crate) async fn serve(
    cfg: &Config,
    store: Store,
    banner: Option<String>,
    default_api_base: Vec<(castellan_domain::apps::Platform, String)>,
) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let svc = services(cfg, &store, addr)?;
    let mut server_settings = settings(cfg, addr);
    server_settings.default_api_base = default_api_base;
    let mut state = AppState::new(svc.clone(), server_settings);
    let shutdown = shutdown_signal();
    tokio::spawn(castellan_services::schedule::run_scheduler(
        svc.clone(),
        Duration::from_secs(30),
        shutdown.clone(),
    ));
    let worker = cfg.worker.in_process.then(|| {
        let health = WorkerHealth::new();
        state = state.clone().with_worker(health.clone());
        tokio::spawn(worker::supervise(
            store.clone(),
            castellan_services::tasks::registry(&svc),
            worker_config(cfg),
            svc.metrics.clone(),
            health,
            shutdown.clone(),
        ))
    });
    tracing::info!(%addr, database = store.backend().name(), "castellan listening");
    println!("Castellan is listening on http://{addr}");
    if let Some(b) = banner {
        println!("{b}");
    }
    castellan_server::serve(listener, state, shutdown.clone()).await?;
    if let Some(w) = worker {
        w.await?;
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn serve_command(cfg: &Config) -> anyhow::Result<ExitCode> {
    let store = create_store(cfg).await?;
    serve(cfg, store, None, Vec::new()).await
}

/// Runs a supervised worker alone until a shutdown signal.
pub(crate) async fn worker(cfg: &Config, concurrency: Option<usize>) -> anyhow::Result<ExitCode> {
    let store = create_store(cfg).await?;
    let mut w = worker_config(cfg);
    if let Some(c) = concurrency {
        w.concurrency = c.max(1);
    }
    let shutdown = shutdown_signal();
    let addr = cfg.listen.parse().unwrap_or(([127, 0, 0, 1], 8080).into());
    let svc = services(cfg, &store, addr)?;
    worker::supervise(
        store.clone(),
        castellan_services::tasks::registry(&svc),
        w,
        svc.metrics.clone(),
        WorkerHealth::new(),
        shutdown,
    )
    .await;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
