//! The benchmark's yardstick: the least a durable add-to-cart can cost with Trolley's crates.
//!
//! warp (same version, same multi-threaded tokio runtime as `trolley serve`) takes
//! `POST /carts/{id}/products` with the same JSON body, parses it into a typed struct, and
//! hands one small record to ONE writer thread. The writer takes every request waiting, puts
//! them in one sled `Batch`, applies it, `flush`es and then does the same durability work as
//! Trolley's writer (`src/storage/fsync.rs`: `fdatasync` of sled's data file, and a scan of
//! `blobs/` syncing any new blob file and the directory), and only then answers each request
//! with a tiny reply. No auth, no actors, no view: what is left is HTTP + JSON + group commit.
//!
//! `scripts/bench.sh` starts it beside Trolley and reports every add row `÷ bare`.
//!
//! Usage: bare_writer ADDR DATA_DIR

use serde::Deserialize;
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use tokio::sync::oneshot;
use warp::Filter;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddProduct {
    product_id: u64,
    quantity: i64,
}

type Job = (Vec<u8>, Vec<u8>, oneshot::Sender<bool>);

/// The most requests one batch takes (as Trolley's writer).
const MAX_BATCH: usize = 1024;

/// A copy of Trolley's `fsync::Durability::sync`: the data file's fdatasync, then new blobs.
struct Durability {
    data: File,
    blobs: PathBuf,
    synced_blobs: HashSet<OsString>,
}

impl Durability {
    fn open(dir: &Path) -> std::io::Result<Self> {
        let data = File::open(dir.join("db"))?;
        data.sync_all()?;
        File::open(dir)?.sync_all()?;
        Ok(Self {
            data,
            blobs: dir.join("blobs"),
            synced_blobs: HashSet::new(),
        })
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.data.sync_data()?;
        let mut present = HashSet::new();
        let mut new = false;
        for entry in std::fs::read_dir(&self.blobs)? {
            let name = entry?.file_name();
            if !self.synced_blobs.contains(&name) {
                File::open(self.blobs.join(&name))?.sync_all()?;
                new = true;
            }
            present.insert(name);
        }
        if new {
            File::open(&self.blobs)?.sync_all()?;
        }
        self.synced_blobs = present;
        Ok(())
    }
}

/// One group commit per wake-up: everything queued goes into one batch, flush, fdatasync.
fn writer(db: sled::Db, mut durability: Durability, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut batch = sled::Batch::default();
        let mut replies = Vec::with_capacity(jobs.len());
        for (k, v, reply) in jobs {
            batch.insert(k, v);
            replies.push(reply);
        }
        let ok = db.apply_batch(batch).is_ok() && db.flush().is_ok() && durability.sync().is_ok();
        for r in replies {
            let _ = r.send(ok);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, dir] = &args[..] else {
        eprintln!("usage: bare_writer ADDR DATA_DIR");
        std::process::exit(2);
    };
    let addr: std::net::SocketAddr = addr.parse().expect("ADDR");
    let dir = PathBuf::from(dir);
    let db = sled::open(&dir).expect("open sled");
    let durability = Durability::open(&dir).expect("open data file");
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::spawn(move || writer(db, durability, rx));

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let healthz = warp::path!("healthz").map(|| "ok");
        let add = warp::path!("carts" / u64 / "products")
            .and(warp::post())
            .and(warp::body::content_length_limit(64 * 1024))
            .and(warp::body::json())
            .and_then(move |cart: u64, body: AddProduct| {
                let tx = tx.clone();
                async move {
                    let mut key = b"c/".to_vec();
                    key.extend_from_slice(&cart.to_be_bytes());
                    key.extend_from_slice(&body.product_id.to_be_bytes());
                    let (reply, done) = oneshot::channel();
                    let value = body.quantity.to_le_bytes().to_vec();
                    tx.send((key, value, reply))
                        .map_err(|_| warp::reject::reject())?;
                    match done.await {
                        Ok(true) => Ok::<_, warp::Rejection>(warp::reply::json(&true)),
                        _ => Err(warp::reject::reject()),
                    }
                }
            });
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        warp::serve(healthz.or(add)).incoming(listener).run().await;
    });
}
