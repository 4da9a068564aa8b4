//! What one account may make the server hold. Each bound is a setting (`config.rs`) and each
//! refusal a 4xx of its own (`http/error.rs`, docs/api.md "Quotas").

/// Per-account bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Open carts one user may have at once: each live cart actor holds about 9 KiB, and one
    /// account once opened 20,000 in 15 s. Checking out or abandoning a cart frees its place.
    pub open_carts_per_user: u32,
    /// `Idempotency-Key` answers one user may have stored; each is kept for a day.
    pub idempotency_keys_per_user: u32,
    /// Live sessions one user may have; a login beyond it revokes the oldest, so logging in
    /// always works.
    pub sessions_per_user: u32,
    /// Registrations one client address may make per minute (the login limiter counts them).
    pub registrations_per_address: u32,
}

impl Quotas {
    /// The defaults of the settings.
    pub const DEFAULT: Quotas = Quotas {
        open_carts_per_user: 100,
        idempotency_keys_per_user: 1_000,
        sessions_per_user: 20,
        registrations_per_address: 20,
    };
}

impl Default for Quotas {
    fn default() -> Self {
        Self::DEFAULT
    }
}
