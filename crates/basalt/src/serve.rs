//! `basalt serve`: bind both listeners, bootstrap, serve until SIGTERM/SIGINT, then drain.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;
use axum_server::Handle;
use basalt_api::ApiState;

use crate::config::Config;
use crate::setup::{Env, PublicUrls};

const TOKEN_PURGE_INTERVAL: Duration = Duration::from_secs(3600);
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(env: Env, cfg: Config) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    // Installed first: a SIGTERM during start-up must still mean a clean stop.
    let stop = shutdown_signal()?;
    let db = env.database().await?;
    let tls = env.tls_files(&cfg)?;
    // Bind before anything else so that the public URLs name the real ports (port 0 works).
    let identity_listener = TcpListener::bind(cfg.server.identity_addr)
        .with_context(|| format!("cannot listen on {}", cfg.server.identity_addr))?;
    let api_listener = TcpListener::bind(cfg.server.api_addr)
        .with_context(|| format!("cannot listen on {}", cfg.server.api_addr))?;
    let urls = PublicUrls::derive(
        &cfg,
        Some(identity_listener.local_addr()?),
        Some(api_listener.local_addr()?),
    );
    let identity = env.identity(&db, &cfg, &urls);
    env.bootstrap(&identity, &urls.identity, tls.as_ref())
        .await?;
    // The NBD server is bound before the volume services exist, so that the exports they
    // make name its real port (port 0 works).
    let nbd_table = basalt_nbd::ExportTable::new();
    let nbd = match cfg.nbd.enabled {
        true => {
            let tls_config = match (&tls, cfg.nbd.tls) {
                (Some(files), true) => Some(crate::tls::server_config(files)?),
                _ => None,
            };
            let offers_tls = tls_config.is_some();
            let server = basalt_nbd::NbdServer::bind(
                cfg.nbd.listen_addr,
                nbd_table.clone(),
                tls_config,
                cfg.nbd.tls_required,
            )
            .await
            .with_context(|| format!("NBD server on {}", cfg.nbd.listen_addr))?;
            Some((server.local_addr()?, server, offers_tls))
        }
        false => None,
    };
    let manager = Arc::new(basalt_workers::VolumeManager::new(
        crate::block_storage::backends(&cfg, &env.data_dir)?,
    ));
    let endpoint = nbd
        .as_ref()
        .map(|(addr, _, tls)| crate::exports::NbdEndpoint {
            addr: *addr,
            table: nbd_table.clone(),
            tls: *tls,
        });
    let protocols = crate::exports::protocols(&cfg, &manager, endpoint).await?;
    let repository = crate::block_storage::backup_repository(&cfg, &env.data_dir).await?;
    let block = crate::block_storage::build(&cfg, &db, manager, protocols, repository).await?;
    // Before serving: jobs of the previous process run again, stranded volumes are failed.
    let stranded = block.volumes.reconcile(true).await?
        + block.snapshots.reconcile().await?
        + block.backups.reconcile().await?;
    if stranded > 0 {
        tracing::warn!(
            stranded,
            "volumes, snapshots and backups left in a transitional status were failed"
        );
    }
    // Attached volumes are reachable again under the names their hosts know.
    let restored = block.attach.restore_exports().await?;
    if restored > 0 {
        tracing::info!(restored, "exports of attached volumes restored");
    }
    let (stop_workers, workers_stop) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    let nbd_addr = nbd.as_ref().map(|(addr, _, _)| *addr);
    if let Some((_, server, _)) = nbd {
        let mut stop = workers_stop.clone();
        workers.push(tokio::spawn(server.run(async move {
            let _ = stop.changed().await;
        })));
    }
    workers.extend(block.runner.spawn(workers_stop.clone()));
    workers.push(
        block
            .heartbeat
            .clone()
            .spawn(basalt_workers::REPORT_INTERVAL, workers_stop.clone()),
    );
    workers.push(basalt_workers::spawn_reconciler(
        block.volumes.clone(),
        block.snapshots.clone(),
        block.backups.clone(),
        crate::block_storage::reconcile_every(&cfg),
        workers_stop,
    ));

    let state = ApiState {
        identity: identity.clone(),
        volumes: block.volumes.clone(),
        snapshots: block.snapshots.clone(),
        backups: block.backups.clone(),
        attach: block.attach.clone(),
        quotas: block.quotas.clone(),
        types: block.types.clone(),
        qos: block.qos.clone(),
        operator: block.operator.clone(),
        transfers: block.transfers.clone(),
        urls: Arc::new(basalt_api::PublicUrls {
            identity: urls.identity.clone(),
            volume: urls.volume.clone(),
        }),
        max_body_bytes: cfg.server.max_body_bytes,
    };
    let handle = Handle::new();
    let identity_app = basalt_api::identity_router(state.clone()).into_make_service();
    let volume_app = basalt_api::volume_router(state).into_make_service();
    let (a, b) = match &tls {
        Some(files) => {
            let rustls = RustlsConfig::from_config(crate::tls::server_config(files)?);
            let serve = |listener: TcpListener, app| {
                let server = axum_server::from_tcp_rustls(listener, rustls.clone())?;
                // TCP_NODELAY under TLS too: without it, Nagle holds the first response behind
                // the session tickets until the client's delayed ACK (about 40 ms).
                let acceptor = server
                    .get_ref()
                    .clone()
                    .handshake_timeout(TLS_HANDSHAKE_TIMEOUT)
                    .acceptor(axum_server::accept::NoDelayAcceptor);
                anyhow::Ok(tokio::spawn(
                    server.acceptor(acceptor).handle(handle.clone()).serve(app),
                ))
            };
            (
                serve(identity_listener, identity_app)?,
                serve(api_listener, volume_app)?,
            )
        }
        None => {
            let serve = |listener: TcpListener, app| {
                let server = axum_server::from_tcp(listener)?;
                let server = server.acceptor(axum_server::accept::NoDelayAcceptor);
                anyhow::Ok(tokio::spawn(server.handle(handle.clone()).serve(app)))
            };
            (
                serve(identity_listener, identity_app)?,
                serve(api_listener, volume_app)?,
            )
        }
    };
    let nbd_note = nbd_addr.map(|a| format!(" nbd {a}")).unwrap_or_default();
    println!(
        "Basalt {} is serving: identity {} block-storage {}{nbd_note} (ready in {} ms)",
        env!("CARGO_PKG_VERSION"),
        urls.identity,
        urls.volume,
        started.elapsed().as_millis()
    );
    tracing::info!(identity = %urls.identity, volume = %urls.volume,
        max_microversion = %basalt_api::MAX_MICROVERSION, "serving");

    let purge = {
        let identity = identity.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TOKEN_PURGE_INTERVAL);
            loop {
                tick.tick().await;
                match identity.purge_expired_tokens().await {
                    Ok(n) if n > 0 => tracing::info!(purged = n, "expired tokens removed"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "token purge failed"),
                }
            }
        })
    };

    stop.await;
    tracing::info!("shutting down: draining in-flight requests");
    handle.graceful_shutdown(Some(Duration::from_secs(cfg.server.shutdown_grace_seconds)));
    purge.abort();
    for server in [a, b] {
        if let Err(e) = server.await? {
            tracing::error!(error = %e, "listener failed");
        }
    }
    // Workers finish the job in hand; unfinished jobs stay in the outbox for the next start.
    let _ = stop_workers.send(true);
    for w in workers {
        let _ = w.await;
    }
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT; the handlers are registered when this is called.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
