//! SCIM 2.0 at `/scim/v2`, per workspace by its bearer tokens: Users, Groups and discovery, for
//! Okta and Entra ID. The rules live in `domain::scim`, the use cases in `services::scim*`.

mod discovery;
mod resources;
mod wire;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    use discovery as d;
    use resources as r;
    Router::new()
        .route("/Users", get(r::list_users).post(r::create_user))
        .route(
            "/Users/{id}",
            get(r::get_user)
                .put(r::put_user)
                .patch(r::patch_user)
                .delete(r::delete_user),
        )
        .route("/Groups", get(r::list_groups).post(r::create_group))
        .route(
            "/Groups/{id}",
            get(r::get_group)
                .put(r::put_group)
                .patch(r::patch_group)
                .delete(r::delete_group),
        )
        .route("/ServiceProviderConfig", get(d::service_provider_config))
        .route("/ResourceTypes", get(d::list_resource_types))
        .route("/ResourceTypes/{id}", get(d::resource_type))
        .route("/Schemas", get(d::list_schemas))
        .route("/Schemas/{id}", get(d::schema))
        .route("/Bulk", post(d::not_implemented))
        .route("/.search", post(r::search_all))
        .route("/Users/.search", post(r::search_users))
        .route("/Groups/.search", post(r::search_groups))
        .fallback(d::no_route)
}
