//! The activity log: every state change appends an event. Events are hash-chained per
//! workspace: each carries the hash of the one before it, so editing or deleting a row breaks
//! the chain at that row, and [`verify_chain`] names it.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::ids::{AuditEventId, PersonId, TokenId, WorkspaceId};

/// The hash the first event of a workspace points back to.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    Person {
        id: PersonId,
    },
    Token {
        id: TokenId,
        person_id: PersonId,
    },
    /// Castellan itself: the worker, the scheduler, or an operator's CLI command.
    Automation {
        name: String,
    },
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Person { .. } => "person",
            Actor::Token { .. } => "token",
            Actor::Automation { .. } => "automation",
        }
    }
    /// A stable one-line identifier: `person:<id>`, `token:<id>`, `automation:<name>`.
    pub fn reference(&self) -> String {
        match self {
            Actor::Person { id } => format!("person:{id}"),
            Actor::Token { id, .. } => format!("token:{id}"),
            Actor::Automation { name } => format!("automation:{name}"),
        }
    }
    /// The person behind the action, when there is one.
    pub fn person(&self) -> Option<PersonId> {
        match self {
            Actor::Person { id } | Actor::Token { person_id: id, .. } => Some(*id),
            Actor::Automation { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// What a caller asks to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent {
    pub actor: Actor,
    /// Dotted verb such as `directory.identity.deactivate`.
    pub action: String,
    /// `kind:id` of the thing acted on, such as `identity:0190…`.
    pub target: String,
    pub outcome: Outcome,
    pub details: serde_json::Value,
}

impl NewAuditEvent {
    pub fn success(
        actor: &Actor,
        action: &str,
        target: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        Self {
            actor: actor.clone(),
            action: action.into(),
            target: target.into(),
            outcome: Outcome::Success,
            details,
        }
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub workspace_id: WorkspaceId,
    /// 1, 2, 3 … per workspace.
    pub seq: i64,
    pub at: Timestamp,
    pub actor: Actor,
    pub action: String,
    pub target: String,
    pub outcome: Outcome,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of an event: SHA-256 over a canonical JSON array of every recorded field and the
/// previous hash. serde_json sorts object keys, so `details` serialises the same way each time.
#[allow(clippy::too_many_arguments)]
pub fn event_hash(
    id: AuditEventId,
    workspace_id: WorkspaceId,
    seq: i64,
    at: Timestamp,
    actor: &Actor,
    action: &str,
    target: &str,
    outcome: Outcome,
    details: &serde_json::Value,
    prev_hash: &str,
) -> String {
    let canonical = serde_json::json!([
        id.to_string(),
        workspace_id.to_string(),
        seq,
        at.timestamp_millis(),
        serde_json::to_value(actor).expect("actor serialises"),
        action,
        target,
        outcome.as_str(),
        details,
        prev_hash,
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

impl AuditEvent {
    pub fn computed_hash(&self) -> String {
        event_hash(
            self.id,
            self.workspace_id,
            self.seq,
            self.at,
            &self.actor,
            &self.action,
            &self.target,
            self.outcome,
            &self.details,
            &self.prev_hash,
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub event_id: AuditEventId,
    pub seq: i64,
    pub reason: String,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "audit event {} (seq {}) is broken: {}",
            self.event_id, self.seq, self.reason
        )
    }
}

/// Checks events one at a time, in `seq` order, so a long chain can be streamed.
#[derive(Debug)]
pub struct ChainVerifier {
    prev: String,
    expected_seq: i64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            prev: GENESIS_HASH.to_string(),
            expected_seq: 1,
        }
    }
}

impl ChainVerifier {
    pub fn push(&mut self, e: &AuditEvent) -> Result<(), ChainBreak> {
        let brk = |reason: String| ChainBreak {
            event_id: e.id,
            seq: e.seq,
            reason,
        };
        if e.seq != self.expected_seq {
            return Err(brk(format!(
                "expected seq {}, found {} (an event is missing)",
                self.expected_seq, e.seq
            )));
        }
        if e.prev_hash != self.prev {
            return Err(brk(
                "its previous-hash does not match the event before it".into()
            ));
        }
        if e.computed_hash() != e.hash {
            return Err(brk(
                "its contents do not match its hash (the row was changed)".into(),
            ));
        }
        self.prev = e.hash.clone();
        self.expected_seq += 1;
        Ok(())
    }

    /// Events checked so far.
    pub fn count(&self) -> u64 {
        (self.expected_seq - 1) as u64
    }

    /// The hash of the last event checked.
    pub fn last_hash(&self) -> &str {
        &self.prev
    }
}

/// Walks a workspace's events in `seq` order and returns the first that does not fit.
pub fn verify_chain<'a>(
    events: impl IntoIterator<Item = &'a AuditEvent>,
) -> Result<u64, ChainBreak> {
    let mut v = ChainVerifier::default();
    for e in events {
        v.push(e)?;
    }
    Ok(v.count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_millis;
    use uuid::Uuid;

    fn chain(n: i64) -> Vec<AuditEvent> {
        let ws = WorkspaceId(Uuid::from_u128(1));
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEvent {
                    id: AuditEventId(Uuid::from_u128(seq as u128)),
                    workspace_id: ws,
                    seq,
                    at: from_millis(1_700_000_000_000 + seq),
                    actor: Actor::Automation {
                        name: "test".into(),
                    },
                    action: "thing.do".into(),
                    target: format!("thing:{seq}"),
                    outcome: Outcome::Success,
                    details: serde_json::json!({"b": 1, "a": [seq]}),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = e.computed_hash();
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify_chain(&chain(5)), Ok(5));
    }

    #[test]
    fn edited_row_is_named() {
        let mut c = chain(5);
        c[2].details = serde_json::json!({"b": 2});
        let brk = verify_chain(&c).unwrap_err();
        assert_eq!(brk.seq, 3);
        assert_eq!(brk.event_id, c[2].id);
    }

    #[test]
    fn deleted_row_is_named() {
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify_chain(&c).unwrap_err().seq, 3);
    }
}
