//! The web app's routes: every page and form action, behind the CSRF guard.

use super::guard::guard;
use super::session::home;
use super::{
    account_shares, accounts, activity, apps, assets, automation, directory, directory_groups,
    guests, identity_provider, identity_provider_oidc, members, oidc_signin, partners, settings,
    signin,
};
use crate::state::AppState;
use axum::Router;
use axum::middleware::{self};
use axum::routing::{get, post};

/// Every web route. Reading works with JavaScript off: pages, tabs, paging and search are GET
/// links and forms; actions are POST forms that answer with a redirect.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route(
            "/welcome",
            get(guests::welcome).post(guests::welcome_submit),
        )
        .route("/static/{file}", get(assets::serve))
        .route("/signin", get(signin::page).post(signin::submit))
        .route("/signout", post(signin::signout))
        .route("/signin/oidc/callback", get(oidc_signin::callback))
        .route("/signin/oidc/{workspace}", get(oidc_signin::start))
        .route(
            "/settings/identity-provider/oidc",
            post(identity_provider_oidc::save),
        )
        .route(
            "/settings/identity-provider/oidc/remove",
            post(identity_provider_oidc::remove),
        )
        .route(
            "/settings/identity-provider/oidc/test",
            get(oidc_signin::test_start),
        )
        .route(
            "/password",
            get(signin::password_page).post(signin::password_submit),
        )
        .route("/apps", get(apps::list))
        .route(
            "/apps/connect",
            get(apps::connect_page).post(apps::connect_submit),
        )
        .route("/apps/{id}", get(apps::details))
        .route("/apps/{id}/members", get(apps::members))
        .route("/apps/{id}/assets", get(apps::assets))
        .route("/apps/{id}/partners", get(apps::partners))
        .route(
            "/apps/{id}/partners/{partner}/connect",
            get(apps::partners::connect_page).post(apps::partners::connect_submit),
        )
        .route(
            "/apps/{id}/partners/{partner}/disconnect",
            post(apps::partners::disconnect_submit),
        )
        // `stop-sharing` or `remove`.
        .route(
            "/apps/{id}/partners/{partner}/change/{kind}",
            get(apps::partnership::change_page).post(apps::partnership::change_submit),
        )
        .route("/apps/{id}/reports", get(apps::reports))
        .route("/apps/{id}/activity", get(apps::activity))
        .route("/apps/{id}/settings", get(apps::settings))
        .route("/apps/{id}/check", post(apps::check))
        .route("/apps/{id}/retry", post(apps::retry))
        .route("/apps/{id}/rotation", post(apps::rotation_submit))
        .route("/apps/{id}/progress", get(apps::progress))
        .route(
            "/apps/{id}/remove",
            get(apps::remove_page).post(apps::remove_submit),
        )
        .route(
            "/apps/{id}/members/{user}/match",
            get(members::match_page).post(members::match_submit),
        )
        .route(
            "/apps/{id}/members/{user}/exempt",
            get(members::exempt_page).post(members::exempt_submit),
        )
        .route(
            "/apps/{id}/members/{user}/guest",
            get(members::guest_page).post(members::guest_submit),
        )
        .route(
            "/apps/{id}/members/{user}/unexempt",
            post(members::unexempt_submit),
        )
        .route(
            "/apps/{id}/members/{user}/unmatch",
            post(members::unmatch_submit),
        )
        .route(
            "/apps/{id}/members/{user}/remove",
            get(members::remove_page),
        )
        .route("/apps/{id}/members/{user}/role", get(members::role_page))
        .route("/apps/{id}/invite", get(members::invite_page))
        .route(
            "/apps/{id}/access",
            get(members::access_page).post(members::access_submit),
        )
        .route("/apps/{id}/changes/preview", post(members::preview))
        .route("/apps/{id}/changes", post(members::queue))
        .route("/apps/{id}/reports/{report}", get(apps::report_link))
        .route(
            "/apps/{id}/reports/{report}/apply",
            get(members::apply_page).post(members::apply_submit),
        )
        .route(
            "/apps/{id}/reports/{report}/dismiss",
            get(members::dismiss_page).post(members::dismiss_submit),
        )
        .route("/automation", get(automation::list))
        .route("/automation/{id}", get(automation::task))
        .route("/automation/{id}/cancel", post(automation::cancel))
        .route("/directory", get(directory::list))
        .route("/directory/groups", get(directory_groups::list))
        .route("/directory/groups/mappings", post(directory_groups::map))
        .route(
            "/directory/groups/mappings/{id}/remove",
            post(directory_groups::unmap),
        )
        .route("/directory/groups/apply", post(directory_groups::apply))
        .route(
            "/directory/import",
            get(directory::import_page).post(directory::import_submit),
        )
        .route("/partners", get(partners::list))
        .route(
            "/partners/add",
            get(partners::add_page).post(partners::add_submit),
        )
        .route("/partners/link", post(partners::link_submit))
        .route("/partners/{id}", get(partners::detail))
        .route(
            "/partners/{id}/end",
            get(partners::end_page).post(partners::end_submit),
        )
        .route(
            "/partners/{id}/people/{person}/{action}",
            post(partners::guest_action),
        )
        .route(
            "/partners/{id}/invite",
            get(partners::invite_page).post(partners::invite_submit),
        )
        .route("/directory/guests", get(guests::list))
        .route(
            "/directory/guests/invite",
            get(guests::invite_page).post(guests::invite_submit),
        )
        .route("/directory/guests/{id}/resend", post(guests::resend))
        .route("/directory/guests/{id}/revoke", post(guests::revoke))
        .route("/directory/guests/{id}/link", post(guests::show_link))
        .route(
            "/directory/{id}/deactivate",
            get(directory::deactivate_page).post(directory::deactivate),
        )
        .route("/directory/{id}/reactivate", post(directory::reactivate))
        .route("/activity", get(activity::list))
        .route("/activity/verify", get(activity::verify))
        .route("/accounts", get(accounts::list))
        .route("/accounts/export.csv", get(accounts::export))
        .route(
            "/accounts/add",
            get(accounts::add_page).post(accounts::add_submit),
        )
        .route("/accounts/{id}", get(accounts::account))
        .route(
            "/accounts/{id}/connect",
            get(accounts::connect_page).post(accounts::connect_submit),
        )
        .route("/accounts/{id}/reveal", post(accounts::reveal))
        .route(
            "/accounts/{id}/rotation/confirm",
            post(accounts::confirm_rotation),
        )
        .route(
            "/accounts/{id}/share",
            get(account_shares::share_page).post(account_shares::share_submit),
        )
        .route(
            "/accounts/{id}/shares/{share}/remove",
            post(account_shares::unshare_submit),
        )
        .route("/settings", get(settings::page_))
        .route("/settings/workspace", post(settings::workspace_submit))
        .route("/settings/people", post(settings::person_create))
        .route("/settings/people/{id}", post(settings::person_update))
        .route(
            "/settings/platform-apps",
            post(settings::platform_app_submit),
        )
        .route(
            "/settings/tokens",
            get(settings::tokens_page).post(settings::token_create),
        )
        .route("/settings/tokens/{id}/revoke", post(settings::token_revoke))
        .route("/settings/identity-provider", get(identity_provider::page_))
        .route(
            "/settings/identity-provider/tokens",
            post(identity_provider::token_create),
        )
        .route(
            "/settings/identity-provider/tokens/{id}/revoke",
            post(identity_provider::token_revoke),
        )
        .layer(middleware::from_fn_with_state(state, guard))
}
