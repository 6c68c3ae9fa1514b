//! Row actions of the User Overview and the Reports tab, as dialogs: Match user (live
//! directory search), Exempt user, Un-exempt, Re-assign (unmatch), Remove user, Change role
//! and asset permissions, Invite members, and Apply or Dismiss a report. Every change that
//! reaches the platform shows its plan — the seats and the exact platform calls — first, and
//! is queued only with that plan's hash.
//!
//! One module per dialog, named as its template: `match_user` (match, and unmatch),
//! `exempt` (and un-exempt), `change` (Remove user and the plan/queue of every change),
//! `role`, `invite`, `apply` and `dismiss` (a report), `access` (Share access); `common` has
//! what they share.

/// Shows a dialog: its fragment for htmx (opened as a modal by app.js), or a page of its own
/// (JavaScript off, or a form sent back with errors).
macro_rules! dialog {
    ($web:expr, $view:expr, $ok:expr) => {{
        let v = $view;
        if $web.htmx && $ok {
            crate::web::page(&$web, &v.as_dialog())
        } else if $ok {
            crate::web::page(&$web, &v)
        } else {
            invalid(&$web, &v)
        }
    }};
}

pub mod access;
pub mod apply;
pub mod change;
pub mod common;
pub mod dismiss;
pub mod exempt;
pub mod guest;
pub mod invite;
pub mod match_user;
pub mod role;

pub use access::{access_page, access_submit};
pub use apply::{apply_page, apply_submit};
pub use change::{preview, queue, remove_page};
pub use dismiss::{dismiss_page, dismiss_submit};
pub use exempt::{exempt_page, exempt_submit, unexempt_submit};
pub use guest::{guest_page, guest_submit};
pub use invite::invite_page;
pub use match_user::{match_page, match_submit, unmatch_submit};
pub use role::role_page;
