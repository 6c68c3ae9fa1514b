//! Apps: the app cards, the Connect app wizard, and App details with its tabs, one module each:
//! `list` (the cards), `head` (what every tab's head shows, and the status and progress
//! views), `members`, `assets`, `reports`, `activity`, `settings` (also password rotation),
//! `check` (Check for updates with live progress), `remove` and `connect` (the wizard).

pub mod activity;
pub mod assets;
pub mod check;
pub mod connect;
pub mod head;
pub mod list;
pub mod members;
pub mod partners;
pub mod partnership;
pub mod remove;
pub mod reports;
pub mod settings;

pub use activity::activity;
pub use assets::assets;
pub use check::{check, progress, retry};
pub use connect::{connect_page, connect_submit};
pub use head::{AppHead, StatusView, app_id, load_head, platform_letter};
pub use list::{details, list};
pub use members::members;
pub use partners::partners;
pub use remove::{remove_page, remove_submit};
pub use reports::{report_link, reports};
pub use settings::{rotation_submit, settings};
