//! Validated newtypes. Everything a client sends passes through one of these constructors, so
//! the rest of the code never sees an out-of-range quantity or an empty name.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a client-supplied value was refused; the message is shown to the client as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    /// The request field at fault, so the client knows what to fix.
    pub field: &'static str,
    /// What the field must look like.
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

macro_rules! id_type {
    ($name:ident) => {
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(UserId);
id_type!(ProductId);
id_type!(CartId);
id_type!(OrderId);

/// 3–32 characters of `[A-Za-z0-9_.-]`. Uniqueness ignores case, so `Alice` and `alice` are the
/// same account name; the spelling given at registration is kept for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let len = raw.chars().count();
        if !(3..=32).contains(&len) {
            return Err(ValidationError::new(
                "username",
                "must be 3 to 32 characters",
            ));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(ValidationError::new(
                "username",
                "may contain only letters, digits, '_', '.' and '-'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for the uniqueness index.
    pub fn canonical(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// 8–128 characters. Never stored: only its argon2id hash is.
pub struct Password(String);

impl Password {
    pub fn parse(raw: String) -> Result<Self, ValidationError> {
        let len = raw.chars().count();
        if !(8..=128).contains(&len) {
            return Err(ValidationError::new(
                "password",
                "must be 8 to 128 characters",
            ));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// How many units one add or set asks for: 1–10000 per call (0 only where a call means
/// "remove", which callers check before constructing this).
///
/// ```
/// use trolley::domain::Quantity;
/// assert_eq!(Quantity::new(3).unwrap().get(), 3);
/// assert!(Quantity::new(0).is_err());
/// assert!(Quantity::new(10_001).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Quantity(u32);

impl Quantity {
    pub const MAX: u32 = 10_000;

    pub fn new(raw: i64) -> Result<Self, ValidationError> {
        if !(1..=i64::from(Self::MAX)).contains(&raw) {
            return Err(ValidationError::new(
                "quantity",
                format!("must be an integer from 1 to {}", Self::MAX),
            ));
        }
        Ok(Self(raw as u32))
    }

    pub fn get(self) -> u64 {
        u64::from(self.0)
    }
}

/// A price in minor units (cents); never negative, never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceCents(i64);

impl PriceCents {
    pub fn new(raw: i64) -> Result<Self, ValidationError> {
        if raw < 0 {
            return Err(ValidationError::new("price_cents", "must not be negative"));
        }
        Ok(Self(raw))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// An amount of stock set by an admin: 0 or more units, at most 10^12 so totals never overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stock(u64);

impl Stock {
    pub const MAX: i64 = 1_000_000_000_000;

    pub fn new(raw: i64) -> Result<Self, ValidationError> {
        if !(0..=Self::MAX).contains(&raw) {
            return Err(ValidationError::new(
                "stock",
                format!("must be an integer from 0 to {}", Self::MAX),
            ));
        }
        Ok(Self(raw as u64))
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

/// A product name: 1–200 characters, not blank, no control characters. Unique as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductName(String);

impl ProductName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let len = raw.chars().count();
        if !(1..=200).contains(&len) || raw.trim().is_empty() {
            return Err(ValidationError::new(
                "name",
                "must be 1 to 200 characters and not blank",
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "name",
                "must not contain control characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_of_allowed_characters_and_length_parse() {
        for ok in ["abc", "alice_1", "a.b-c", &"x".repeat(32)] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "", &"x".repeat(33), "al ice", "élan", "bob!"] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Username::parse("Alice").unwrap().canonical(), "alice");
    }

    #[test]
    fn passwords_must_be_8_to_128_characters() {
        assert!(Password::parse("1234567".into()).is_err());
        assert!(Password::parse("12345678".into()).is_ok());
        assert!(Password::parse("p".repeat(128)).is_ok());
        assert!(Password::parse("p".repeat(129)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-pass".into()).unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn quantity_is_between_1_and_10000() {
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(-1).is_err());
        assert_eq!(Quantity::new(1).unwrap().get(), 1);
        assert_eq!(Quantity::new(10_000).unwrap().get(), 10_000);
        assert!(Quantity::new(10_001).is_err());
    }

    #[test]
    fn price_and_stock_are_never_negative() {
        assert!(PriceCents::new(-1).is_err());
        assert_eq!(PriceCents::new(0).unwrap().get(), 0);
        assert!(Stock::new(-5).is_err());
        assert_eq!(Stock::new(25).unwrap().get(), 25);
        assert!(Stock::new(Stock::MAX + 1).is_err());
    }

    #[test]
    fn product_names_are_1_to_200_visible_characters() {
        assert!(ProductName::parse("Tea").is_ok());
        assert!(ProductName::parse(&"é".repeat(200)).is_ok());
        assert!(ProductName::parse(&"a".repeat(201)).is_err());
        assert!(ProductName::parse("").is_err());
        assert!(ProductName::parse("   ").is_err());
        assert!(ProductName::parse("tea\n").is_err());
    }
}
