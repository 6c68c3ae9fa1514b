//! Typed ids. Each is a UUIDv7 built from a timestamp and random bytes that the caller passes
//! in, so ids sort by creation time and tests stay deterministic.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clock::Timestamp;

macro_rules! typed_id {
    ($($name:ident),* $(,)?) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn generate(now: Timestamp, rng: &mut dyn RngCore) -> Self {
                Self(crate::clock::new_v7(now, rng))
            }
            pub fn new(env: &crate::clock::Env) -> Self {
                Self(env.new_uuid())
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    )*};
}

typed_id!(
    WorkspaceId,
    PersonId,
    IdentityId,
    GroupId,
    TaskId,
    TokenId,
    SessionId,
    AuditEventId,
    AppId,
    AutomationAccountId,
    SecretId,
    CardId,
    ShareId,
    GuestInviteId,
    LocalPartnerId,
    ScimTokenId,
    GroupMappingId
);

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ids_sort_by_time_and_round_trip() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let t0 = crate::clock::from_millis(1_700_000_000_000);
        let t1 = crate::clock::from_millis(1_700_000_000_001);
        let a = TaskId::generate(t0, &mut rng);
        let b = TaskId::generate(t1, &mut rng);
        assert!(a < b);
        assert_eq!(a.to_string().parse::<TaskId>().unwrap(), a);
        assert_eq!(a.0.get_version_num(), 7);
    }
}
