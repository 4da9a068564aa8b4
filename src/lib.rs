//! Trolley: a shopping-cart backend built as a supervised actor system over an embedded sled
//! database, behind a thin warp HTTP gateway.
//!
//! Module map:
//! - [`domain`]: pure types and rules (validated values, the inventory and cart state
//!   machines, events). No I/O.
//! - [`storage`]: sled, the key layout, the versioned codec and the group-commit writer that
//!   acknowledges a write only once it is durable.
//! - [`actors`]: the supervision tree; one actor per user, product inventory and cart.
//! - [`idempotency`]: `Idempotency-Key` persistence (recorded answers, marks, their sweep),
//!   used by the gateway and the reaper.
//! - [`http`]: warp filters and handlers per resource, auth, and the one error mapping. It
//!   reaches the system only through [`actors::Actors`] (entity handles and the service API),
//!   which does not hand out the store.
//! - [`config`]: settings from flags and environment.
//! - [`telemetry`]: tracing set-up.
//! - [`memory`]: returning memory freed by passivation to the OS.
//! - [`limits`]: the open-files limit, raised at start, and the streams' share of it.
//! - [`admin`]: offline maintenance commands (`trolley events trim`).
//! - `testing` (only with the `test-hooks` feature): failure injection for this crate's tests.
//! - [`maintenance`]: where an online backup may go (the admin route checks it there).
//! - [`remote`]: CLI commands that ask a running server (`trolley backup`).
//!
//! [`App::start`] wires them together; `main` and the tests both use it.

pub mod actors;
pub mod admin;
pub mod config;
pub mod domain;
pub mod http;
pub mod idempotency;
pub mod limits;
pub mod maintenance;
pub mod memory;
pub mod remote;
pub mod storage;
pub mod telemetry;
#[cfg(feature = "test-hooks")]
pub mod testing;

pub use config::Config;

use actors::supervisor::Settings;
use actors::Actors;
use std::net::SocketAddr;
use storage::{StorageError, Store};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not open the data directory: {0}")]
    Storage(#[from] StorageError),
    #[error("could not start the actor system: {0}")]
    Actors(String),
    #[error("could not set up the admin user ({0}); an existing user of that name is made admin only if TROLLEY_ADMIN_PASSWORD is its password")]
    Admin(#[from] actors::Error),
    #[error("could not finish the checkouts a crash interrupted: {0}")]
    Recovery(actors::Error),
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

pub struct App;

/// A started app: serving HTTP until [`RunningApp::shutdown`].
pub struct RunningApp {
    /// Where the server listens (the real port when the config asked for port 0).
    pub addr: SocketAddr,
    /// The actor system, for in-process callers and tests.
    pub actors: Actors,
    /// The store under the actors: for closing it at shutdown, and for tests (faults, the
    /// clock, stored records). The gateway never gets it.
    store: Store,
    /// Fired to begin graceful shutdown of the HTTP server.
    stop_http: oneshot::Sender<()>,
    /// The event streams: closed first at shutdown, or the server would wait on them.
    streams: http::streams::Streams,
    server: JoinHandle<()>,
    shutdown_timeout: std::time::Duration,
}

impl App {
    /// Everything between starting the actors and serving: the configured admin, the
    /// checkouts a crash interrupted, and the listening socket.
    async fn prepare(
        config: &Config,
        actors: &Actors,
    ) -> Result<(tokio::net::TcpListener, SocketAddr), StartError> {
        let admin = config.admin().map_err(actors::Error::from)?;
        if let Some((username, password)) = admin {
            actors.ensure_admin(username, password).await?;
        }
        let resumed = actors
            .recover_checkouts()
            .await
            .map_err(StartError::Recovery)?;
        if resumed > 0 {
            tracing::info!(resumed, "finished checkouts interrupted by a crash");
        }
        let bind_error = |source| StartError::Bind {
            addr: config.addr,
            source,
        };
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        Ok((listener, addr))
    }

    /// Opens the store, starts the actors, makes sure the configured admin exists, then
    /// binds and serves.
    pub async fn start(config: Config) -> Result<RunningApp, StartError> {
        // Install the metrics recorder before anything records.
        telemetry::metrics();
        let open_files = limits::raise_open_files();
        let store = Store::open(&config.data_dir, config.cache_bytes)?
            .with_write_timeout(config.call_timeout);
        let settings = Settings {
            call_timeout: config.call_timeout,
            token_ttl: config.token_ttl,
            hold_ttl: config.hold_ttl,
            idle_timeout: config.idle_timeout,
            retention: config.retention(),
            backup_dir: config.backup_dir.clone(),
            quotas: config.quotas(),
        };
        maintenance::clear_partial_backups(config.backup_dir.as_deref());
        let actors = Actors::start(store.clone(), settings)
            .await
            .map_err(|e| StartError::Actors(e.to_string()))?;
        let (listener, addr) = match Self::prepare(&config, &actors).await {
            Ok(ok) => ok,
            Err(e) => {
                // Release the data dir (sled's lock) before reporting the failure.
                actors.stop(config.shutdown_timeout).await;
                drop(actors);
                close_store(store).await;
                return Err(e);
            }
        };
        let stream_cap = limits::stream_cap(config.max_streams, open_files);
        tracing::info!(stream_cap, open_files, "streams capped");
        let streams = http::streams::Streams::start(&actors, stream_cap);
        let (stop_http, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(
            warp::serve(http::routes(actors.clone(), streams.clone()))
                .incoming(listener)
                .graceful(async {
                    let _ = stopped.await;
                })
                .run(),
        );
        tracing::info!(%addr, data_dir = %config.data_dir.display(), "trolley is serving");
        Ok(RunningApp {
            addr,
            actors,
            store,
            stop_http,
            streams,
            server,
            shutdown_timeout: config.shutdown_timeout,
        })
    }
}

impl RunningApp {
    /// Resolves if the store stops taking writes on its own (a failed flush or sync): the
    /// process should then shut down and be restarted, which recovers from what is on disk.
    pub async fn store_failed(&self) {
        self.store.writer_stopped().await
    }

    /// The store under the actors (see the field).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Graceful shutdown as one chain: end the event streams, stop accepting and finish
    /// in-flight requests (bounded), stop the actors, then let the store writer drain and
    /// flush.
    pub async fn shutdown(self) {
        let timeout = self.shutdown_timeout;
        let store = self.store.clone();
        let actors = self.stop_serving().await;
        actors.stop(timeout).await;
        // The last handles to the store go with the actor system; then the data dir is free.
        drop(actors);
        close_store(store).await;
        tracing::info!("trolley stopped");
    }

    /// Stops accepting connections and lets in-flight requests finish (bounded), leaving the
    /// actors and the store as they are: all a server whose disk has failed can still do.
    pub async fn stop_serving(self) -> Actors {
        // Streams never finish on their own: end them, then let the rest finish.
        self.streams.close().await;
        let _ = self.stop_http.send(());
        let mut server = self.server;
        if tokio::time::timeout(self.shutdown_timeout, &mut server)
            .await
            .is_err()
        {
            tracing::warn!("in-flight requests did not finish in time; closing them");
            server.abort();
            let _ = server.await;
        }
        self.actors
    }
}

/// Closes the store; a failure to release the data dir is logged, since shutdown goes on.
async fn close_store(store: Store) {
    if let Err(e) = store.close().await {
        tracing::error!(error = %e, "the store did not close cleanly");
    }
}
