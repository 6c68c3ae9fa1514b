//! The control API under `/_emulator`, for tests and the demo: read a business's whole state,
//! change members, partners, assets and grants behind Castellan's back, accept or decline
//! invites, set faults and limits, reset to a scenario, and count requests per endpoint.
//!
//! `routes` lists the routes; `general` has what is not one platform's (info, faults, reset,
//! request counts); `pinterest` and `tiktok` change each platform's state; `common` has the
//! answers they share.

mod common;
mod general;
mod pinterest;
mod routes;
mod tiktok;

pub use routes::routes;
