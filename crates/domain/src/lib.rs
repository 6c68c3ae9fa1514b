//! Castellan's core: typed ids, validated values, the authorization policy, directory import
//! validation, task and audit rules. No IO lives here: no HTTP, no SQL, no clock or randomness
//! of its own (both are passed in), so everything here is deterministic and unit-testable.

pub mod apps;
pub mod audit;
pub mod auth;
pub mod changes;
pub mod clock;
pub mod coverage;
pub mod directory;
pub mod error;
pub mod group_mappings;
pub mod ids;
pub mod local_partners;
pub mod matching;
pub mod names;
pub mod oidc;
pub mod outbox;
pub mod partnership;
pub mod passwords;
pub mod planning;
pub mod platform;
pub mod policy;
pub mod reports;
pub mod roles;
pub mod scim;
pub mod snapshot;
pub mod tasks;
pub mod totp;
pub mod values;
pub mod words;
pub mod workspace;

pub use clock::{Clock, Env, FixedClock, SystemClock, Timestamp};
pub use error::{FieldError, ValidationErrors};
pub use ids::*;
