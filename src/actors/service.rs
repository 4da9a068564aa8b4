//! The service API below the gateway: every operation a request needs that is not a message to
//! one entity actor (creating entities, sessions, reads of orders, the sales projection and the
//! event log, health). The gateway calls these and the entity [`Handle`](super::Handle)s and
//! never reaches the store itself, so the store's layout stays this layer's business.
//!
//! Each method wraps the free function of the actor module that owns the rule; nothing here
//! decides anything of its own.

use super::bus::{self, Projection};
use super::stats::{self, ProductStats, SalesStats};
use super::user::LoginOk;
use super::{inventory, order, user, Actors, CartView, Error, ProductView};
use crate::domain::event::EventRecord;
use crate::domain::{
    Order, OrderId, Password, PriceCents, Product, ProductId, ProductName, Session, Stock, User,
    UserId, Username,
};
use crate::idempotency::{Mark, Records};
use crate::storage::backup::{self, Backup};
use crate::storage::{keys, retention};

/// The name the sales projection's subscriber goes by (its offset, its metrics label).
pub const STATS_SUBSCRIBER: &str = <SalesStats as Projection>::NAME;

/// A product's sales figures, with the name they are shown under.
#[derive(Debug, Clone)]
pub struct Sales {
    pub product_id: ProductId,
    pub name: String,
    pub stats: ProductStats,
}

impl Actors {
    /// Creates a (non-admin) user.
    pub async fn register(&self, username: Username, password: &Password) -> Result<User, Error> {
        user::register(&self.store, &self.hasher, username, password, false).await
    }

    /// Makes sure the configured admin exists (see [`user::ensure_admin`]).
    pub async fn ensure_admin(&self, username: Username, password: Password) -> Result<(), Error> {
        user::ensure_admin(&self.users, &self.store, &self.hasher, username, password).await
    }

    /// Logs in; unknown users and wrong passwords are indistinguishable.
    pub async fn login(&self, username: &str, password: String) -> Result<LoginOk, Error> {
        user::login(&self.users, &self.store, &self.hasher, username, password).await
    }

    /// Revokes the session of `token`.
    pub async fn logout(&self, token: &str) -> Result<(), Error> {
        let hash = user::token_hash(token);
        let removed = user::logout(&self.store, &hash).await;
        // Even if the removal's outcome is unknown: the next use reads the store.
        self.sessions.revoke(&hash);
        removed
    }

    /// The live session a bearer token stands for: from the session cache, or the store.
    pub fn authenticate(&self, token: &str) -> Result<Session, Error> {
        let hash = user::token_hash(token);
        match self.sessions.get(&hash, self.store.now()) {
            Ok(Some(session)) => Ok(session),
            Ok(None) => Err(Error::Unauthorized),
            Err(miss) => {
                let session = user::authenticate(&self.store, &hash)?;
                self.sessions.fill(hash, session.clone(), miss);
                Ok(session)
            }
        }
    }

    /// Creates an empty open cart for `user` (within the open-cart quota), with an
    /// `Idempotency-Key`'s mark if given.
    pub async fn create_cart(&self, user: UserId, mark: Option<Mark>) -> Result<CartView, Error> {
        self.users
            .call(user.0, |reply| super::UserMsg::CreateCart { mark, reply })
            .await?
    }

    /// Creates a product, with an `Idempotency-Key`'s mark if given.
    pub async fn create_product(
        &self,
        name: ProductName,
        price: PriceCents,
        stock: Stock,
        mark: Option<Mark>,
    ) -> Result<ProductView, Error> {
        inventory::create_marked(&self.store, name, price, stock, mark).await
    }

    /// One page of products in id order after `after`, and the id to continue after; read
    /// without starting any actor.
    pub fn list_products(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<ProductView>, Option<ProductId>), Error> {
        inventory::list(&self.catalog, &self.store, after, limit)
    }

    /// The order, if `user` may see it.
    pub fn order(&self, id: OrderId, user: UserId, is_admin: bool) -> Result<Order, Error> {
        order::get(&self.store, id, user, is_admin)
    }

    /// A page of the user's orders, oldest first, after order id `after`, and the id to
    /// continue after.
    pub fn orders_of(
        &self,
        user: UserId,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<Order>, Option<OrderId>), Error> {
        order::list(&self.store, user, after, limit)
    }

    /// A product's sales (404 for an unknown product) and the log sequence the projection has
    /// read up to: the figures may lag the log by a moment, and the client may want to know.
    pub async fn product_stats(&self, id: ProductId) -> Result<(Sales, u64), Error> {
        let product = self
            .inventory
            .call(id.0, |reply| super::InventoryMsg::Get { reply })
            .await?;
        let sales = Sales {
            product_id: product.id,
            name: product.name,
            stats: stats::stats_of(&self.store, id)?,
        };
        Ok((sales, self.stats_offset()?))
    }

    /// The best sellers by units sold. Names are read from the stored product records rather
    /// than through the inventory actors, so a look at the ranking starts no actors.
    pub fn top_sellers(&self, limit: usize) -> Result<Vec<Sales>, Error> {
        let mut items = Vec::new();
        for (id, stats) in stats::top(&self.store, limit)? {
            let name = self
                .store
                .get::<Product>(&keys::product(id))?
                .map(|p| p.name.as_str().to_owned())
                .unwrap_or_default();
            items.push(Sales {
                product_id: id,
                name,
                stats,
            });
        }
        Ok(items)
    }

    /// Up to `limit` durable events after sequence `after`.
    ///
    /// With no position, from the oldest event still in the log; with one, `EventsTrimmed` if
    /// events after it were trimmed, so a reader resuming there learns that it missed some
    /// instead of skipping them unknowingly.
    pub fn events_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<EventRecord>, Error> {
        Ok(match after {
            Some(after) => retention::read_after(&self.store, after, limit)?,
            None => retention::read_from_oldest(&self.store, limit)?,
        })
    }

    /// The sequence number of the last durable event.
    pub fn log_head(&self) -> u64 {
        *self.store.head().borrow()
    }

    /// The log sequence the sales projection has handled up to.
    pub fn stats_offset(&self) -> Result<u64, Error> {
        Ok(bus::offset_of(&self.store, STATS_SUBSCRIBER)?)
    }

    /// How many durable events the sales projection has yet to handle.
    pub fn stats_lag(&self) -> Result<u64, Error> {
        Ok(self.log_head().saturating_sub(self.stats_offset()?))
    }

    /// Whether the store still takes writes (its writer is running).
    pub fn is_writable(&self) -> bool {
        self.store.is_writable()
    }

    /// Trims the log while serving: below `before` if given (refused with `EventsStillNeeded`
    /// if a subscriber has not handled those events), else as far as the configured retention
    /// (`--events-retain`, `--events-retain-count`) allows.
    pub async fn trim_events(&self, before: Option<u64>) -> Result<retention::Trimmed, Error> {
        let store = &self.store;
        Ok(match before {
            Some(before) => retention::trim(store, before).await?,
            None => retention::apply(store, &self.settings.retention, store.now()).await?,
        })
    }

    /// Backs the live database up into `to` while serving (see [`crate::storage::backup`]).
    /// The admin route checks `to` first ([`crate::maintenance::backup`]).
    pub async fn backup_into(&self, to: &std::path::Path) -> Result<Backup, Error> {
        Ok(backup::backup(&self.store, to).await?)
    }

    /// Each maintenance job's state (running, or left stopped for failing too often).
    pub fn job_states(&self) -> std::collections::BTreeMap<&'static str, super::jobs::JobState> {
        self.jobs.states()
    }

    /// The recorded answers and marks of `Idempotency-Key`s.
    pub fn idempotency(&self) -> Records {
        Records::new(self.store.clone())
    }
}
