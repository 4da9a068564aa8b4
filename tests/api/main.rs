//! Black-box tests of the HTTP API: the real app on port 0, a real client, a real sled store.

mod carts;
mod checkout;
mod concurrency;
mod crash;
mod events;
mod expiry;
mod fuzz;
mod helpers;
mod idempotency;
mod interleavings;
mod lifecycle;
mod openapi;
mod ops;
mod passivation;
mod product_stream;
mod products;
mod readme;
mod restart;
mod retention;
mod streams;
mod supervision;
mod users;
mod web;
