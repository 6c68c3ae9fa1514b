//! The control API's routes under `/_emulator`.

use super::general::*;
use super::pinterest::*;
use super::tiktok::*;
use crate::world::World;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;

pub fn routes() -> Router<Arc<World>> {
    Router::new()
        .route("/_emulator/info", get(info))
        .route("/_emulator/faults", get(get_faults).put(put_faults))
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/requests", get(requests).delete(clear_requests))
        .route("/_emulator/pinterest/businesses/{id}", get(p_business))
        .route(
            "/_emulator/pinterest/members",
            post(p_member_add)
                .patch(p_member_role)
                .delete(p_member_remove),
        )
        .route(
            "/_emulator/pinterest/assets",
            post(p_asset_add).delete(p_asset_remove),
        )
        .route(
            "/_emulator/pinterest/grants",
            post(p_grant).delete(p_revoke),
        )
        .route(
            "/_emulator/pinterest/partners",
            post(p_partner_add).delete(p_partner_remove),
        )
        .route(
            "/_emulator/pinterest/partner_grants",
            post(p_partner_grant).delete(p_partner_revoke),
        )
        .route(
            "/_emulator/pinterest/invites/{id}/{action}",
            post(p_invite_respond),
        )
        .route("/_emulator/pinterest/tokens/expire", post(p_expire_tokens))
        .route("/_emulator/tiktok/bcs/{id}", get(t_bc))
        .route(
            "/_emulator/tiktok/members",
            post(t_member_add)
                .patch(t_member_role)
                .delete(t_member_remove),
        )
        .route(
            "/_emulator/tiktok/assets",
            post(t_asset_add).delete(t_asset_remove),
        )
        .route("/_emulator/tiktok/grants", post(t_grant).delete(t_revoke))
        .route(
            "/_emulator/tiktok/partners",
            post(t_partner_add).delete(t_partner_remove),
        )
        .route("/_emulator/tiktok/shares", post(t_share).delete(t_unshare))
        .route("/_emulator/tiktok/invites/{action}", post(t_invite_respond))
}
