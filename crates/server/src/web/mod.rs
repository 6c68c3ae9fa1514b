//! The web app: server-rendered pages (askama templates in `templates/web/`) with htmx
//! fragments, on the same listener as the API and built on the same services. One view-model
//! type per page; fragments are template blocks; no SQL and no JSON in templates. Every unsafe
//! request passes the CSRF guard ([`guard`]); every response carries the security headers.
//!
//! This file only declares the modules and names what the screens share: the router
//! (`router`), the layout's chrome and message boxes (`chrome`), the signed-in session
//! (`session`), errors as pages (`error`), rendering and redirects (`respond`), forms and
//! their errors (`form`), links back (`links`) and the CSRF guard with the security headers
//! (`guard`).

pub mod account_shares;
pub mod accounts;
pub mod activity;
pub mod apps;
pub mod assets;
pub mod automation;
pub mod chrome;
pub mod directory;
pub mod directory_groups;
pub mod error;
pub mod form;
pub mod guard;
pub mod guests;
pub mod identity_provider;
pub mod identity_provider_oidc;
pub mod links;
pub mod members;
pub mod oidc_signin;
pub mod partners;
pub mod respond;
pub mod router;
pub mod session;
pub mod settings;
pub mod signin;

pub use chrome::{Chrome, FLASH_COOKIE, Flash, Nav, when, when_opt};
pub use error::{WebError, WebResult};
pub use form::{Errors, Form, Query, multipart_field};
pub use guard::{CSRF_FIELD, guard};
pub use links::{safe_next, with_query};
pub use respond::{done, invalid, page, render, with_flash};
pub use router::router;
pub use session::{Web, home, next_of};
