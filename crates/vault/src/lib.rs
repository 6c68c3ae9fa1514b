//! Castellan's credential vault: envelope encryption of automation-account passwords and
//! platform tokens. The crate is part of the workspace layout from the start so the dependency
//! direction is fixed (vault depends on nothing of ours); its implementation arrives with the
//! connect-an-app issue, and no other crate uses it yet.
