//! Where an e-mail of the outbox stands.

use crate::named_enum;

named_enum! {
    /// An outbox e-mail's status.
    pub enum EmailStatus {
        /// No SMTP is configured: kept in the outbox to be read there.
        Kept = "kept",
        Pending = "pending",
        Sent = "sent",
        Failed = "failed",
    }
}
