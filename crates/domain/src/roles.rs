//! The roles and permissions of each platform: business roles, the admin role (the one
//! definition of a business admin, used by the SQL and the guards alike), and which
//! permissions each asset type takes.

use crate::FieldError;
use crate::apps::Platform;
use crate::changes::Refusal;

/// The business roles of a platform, as it names them.
pub fn roles(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::Pinterest => &["BIZ_ADMIN", "EMPLOYEE"],
        Platform::Tiktok => &["ADMIN", "STANDARD"],
    }
}

/// Every business role of every platform (what the API document lists).
pub const ALL_ROLES: [&str; 4] = ["BIZ_ADMIN", "EMPLOYEE", "ADMIN", "STANDARD"];

/// A business role as the app's platform names it. A role no platform has is invalid input;
/// one of the other platform's roles is valid by the API document's enum and only the app
/// rules it out, so it is a conflict (`Guard`). Shared by invitations and role changes.
pub(crate) fn check_role(platform: Platform, role: &str) -> Result<(), Refusal> {
    let ok = roles(platform);
    if ok.contains(&role) {
        return Ok(());
    }
    let e = FieldError::new(
        "role",
        format!("must be one of {} on {platform}", ok.join(", ")),
    );
    Err(if ALL_ROLES.contains(&role) {
        Refusal::Guard(e)
    } else {
        Refusal::Invalid(e)
    })
}

/// The admin role of a platform.
pub fn admin_role(platform: Platform) -> &'static str {
    match platform {
        Platform::Pinterest => "BIZ_ADMIN",
        Platform::Tiktok => "ADMIN",
    }
}

/// Who is a business admin: a seat whose business roles include the platform's admin role.
/// The one definition; the store's query of an app's admins states the same rule in SQL.
pub fn is_business_admin(platform: Platform, roles: &[String]) -> bool {
    let admin = admin_role(platform);
    roles.iter().any(|r| r == admin)
}

/// Permission names each platform accepts on an asset of a given type (from the official
/// API descriptions).
pub fn check_permissions(
    platform: Platform,
    asset_kind: &str,
    field: &str,
    permissions: &[String],
) -> Result<(), FieldError> {
    let ok = asset_permissions(platform, asset_kind);
    let single = platform == Platform::Tiktok && asset_kind != "TT_ACCOUNT";
    check_permission_list(asset_kind, ok, single, field, permissions)
}

/// The permissions a platform accepts on an asset of a given type.
pub fn asset_permissions(platform: Platform, asset_kind: &str) -> &'static [&'static str] {
    match (platform, asset_kind) {
        (Platform::Pinterest, "PROFILE") => &["PROFILE_PUBLISHER", "ADMIN", "ANALYST"],
        (Platform::Pinterest, "CATALOG") => &["CATALOGS_ADMIN", "CATALOGS_VIEWER"],
        (Platform::Pinterest, _) => &[
            "ADMIN",
            "ANALYST",
            "FINANCE_MANAGER",
            "AUDIENCE_MANAGER",
            "CAMPAIGN_MANAGER",
        ],
        (Platform::Tiktok, "ADVERTISER") => &["ADMIN", "OPERATOR", "ANALYST"],
        (Platform::Tiktok, "CATALOG") => &["ADMIN", "AD_PROMOTE"],
        (Platform::Tiktok, "TT_ACCOUNT") => &["POST_NORMAL", "POST_ADS", "READ_ANALYTICS"],
        (Platform::Tiktok, "LEAD") => &["ADMIN", "ANALYST"],
        (Platform::Tiktok, "TIKTOK_SHOP") => &["ADMIN", "OPERATOR"],
        (Platform::Tiktok, _) => &["ADMIN"],
    }
}

pub(crate) fn check_permission_list(
    asset_kind: &str,
    ok: &[&str],
    single: bool,
    field: &str,
    permissions: &[String],
) -> Result<(), FieldError> {
    if permissions.is_empty() || (single && permissions.len() > 1) {
        return Err(FieldError::new(
            field,
            if single {
                format!("must hold one of {}", ok.join(", "))
            } else {
                format!("must hold one or more of {}", ok.join(", "))
            },
        ));
    }
    if let Some(bad) = permissions.iter().find(|p| !ok.contains(&p.as_str())) {
        return Err(FieldError::new(
            field,
            format!(
                "{bad} is not a permission on a {asset_kind} (one of {})",
                ok.join(", ")
            ),
        ));
    }
    Ok(())
}
