//! The TikTok calls of a change: a member change's, and a partnership change's (stop sharing
//! an advertiser with a partner, one asset per call as a third-party note says the API takes;
//! end the partnership), each as (path, body).

use castellan_domain::changes::Change;
use castellan_domain::partnership::PartnerChange;
use serde_json::{Value, json};

/// The body field that carries a member's role on an asset of this type.
pub(crate) fn role_field(kind: &str) -> &'static str {
    match kind {
        "CATALOG" => "catalog_role",
        "TT_ACCOUNT" => "tt_account_roles",
        "LEAD" => "form_library_role",
        "TIKTOK_SHOP" => "store_role",
        _ => "advertiser_role",
    }
}

/// The calls of a change: (path, body).
pub(crate) fn calls(bc: &str, change: &Change) -> Vec<(&'static str, Value)> {
    match change {
        Change::RemoveMember { user_id, .. } => vec![(
            "/bc/member/delete/",
            json!({ "bc_id": bc, "user_id": user_id }),
        )],
        Change::SetRole { user_id, role, .. } => vec![(
            "/bc/member/update/",
            json!({ "bc_id": bc, "user_id": user_id, "user_role": role }),
        )],
        Change::Grant {
            user_id,
            asset_id,
            asset_kind,
            permissions,
        } => {
            let mut body = json!({ "bc_id": bc, "user_id": user_id, "asset_type": asset_kind, "asset_id": asset_id });
            body[role_field(asset_kind)] = if asset_kind == "TT_ACCOUNT" {
                json!(permissions)
            } else {
                json!(permissions.first())
            };
            vec![("/bc/asset/assign/", body)]
        }
        Change::Revoke {
            user_id,
            asset_id,
            asset_kind,
        } => vec![(
            "/bc/asset/unassign/",
            json!({ "bc_id": bc, "user_id": user_id, "asset_type": asset_kind, "asset_id": asset_id }),
        )],
        Change::Invite {
            email,
            role,
            assets,
        } => {
            let mut body = json!({ "bc_id": bc, "emails": [email], "user_role": role });
            // Invitations carry advertisers only, one role for all (the plan checks it).
            if let Some((_, _, perms)) = assets.first() {
                body["asset_type"] = json!("ADVERTISER");
                body["asset_ids"] = json!(assets.iter().map(|a| &a.0).collect::<Vec<_>>());
                body["advertiser_role"] = json!(perms.first());
            }
            vec![("/bc/member/invite/", body)]
        }
        Change::CancelInvite { email, .. } => vec![(
            "/bc/member/delete/",
            json!({ "bc_id": bc, "user_email": email }),
        )],
    }
}

/// The calls of a partnership change: (path, body).
pub(crate) fn partner_calls(bc: &str, change: &PartnerChange) -> Vec<(&'static str, Value)> {
    match change {
        PartnerChange::StopSharing { partner_id, assets } => assets
            .iter()
            .map(|(id, kind)| {
                (
                    "/bc/partner/asset/delete/",
                    json!({ "bc_id": bc, "partner_id": partner_id, "asset_type": kind, "asset_ids": [id] }),
                )
            })
            .collect(),
        // One call ends the relation both ways with every share between the two.
        PartnerChange::RemovePartner { partner_id, .. } => vec![(
            "/bc/partner/delete/",
            json!({ "bc_id": bc, "partner_id": partner_id }),
        )],
    }
}
