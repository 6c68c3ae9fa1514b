//! Schemas of the API's validated strings, for the OpenAPI document: each says exactly what
//! the parser behind it accepts (texts are trimmed of Unicode white space first, must then be
//! non-empty where required, carry no control characters and fit their length).

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};

/// Rust's `char::is_whitespace` (Unicode White_Space), as a regular-expression class body:
/// what the parsers trim.
const WS: &str = r"\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// Rust's `char::is_control` (Unicode Cc).
const CC: &str = r"\x00-\x1F\x7F-\x9F";

fn string(pattern: String, max: Option<usize>, nullable: bool, description: &str) -> RefOr<Schema> {
    let ty = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    let mut b = ObjectBuilder::new()
        .schema_type(ty)
        .pattern(Some(pattern))
        .description(Some(description));
    if let Some(m) = max {
        b = b.max_length(Some(m));
    }
    Schema::Object(b.build()).into()
}

/// A trimmed single-line text of 1 to `max` characters.
fn text(max: usize, nullable: bool, optional: bool) -> RefOr<Schema> {
    let inner = format!(
        "[^{WS}{CC}](?:[^{CC}]{{0,{}}}[^{WS}{CC}])?",
        max.saturating_sub(2)
    );
    let body = if optional {
        format!("(?:{inner})?")
    } else {
        inner
    };
    string(
        format!("^[{WS}]*{body}[{WS}]*$"),
        None,
        nullable,
        &format!(
            "trimmed, {}at most {max} characters, no control characters",
            if optional { "" } else { "1 to " }
        ),
    )
}

pub fn text_100() -> RefOr<Schema> {
    text(100, false, false)
}
pub fn text_200() -> RefOr<Schema> {
    text(200, false, false)
}
pub fn text_256() -> RefOr<Schema> {
    text(256, false, false)
}
pub fn text_500() -> RefOr<Schema> {
    text(500, false, false)
}
pub fn text_320() -> RefOr<Schema> {
    text(320, false, false)
}
/// A TOTP secret: an `otpauth://totp/…` URI or base32 (at least 80 bits), as
/// `domain::totp::Totp::parse` reads it.
pub fn optional_totp() -> RefOr<Schema> {
    string(
        castellan_domain::totp::PATTERN.into(),
        Some(2048),
        true,
        "an otpauth://totp/ URI (secret first, then issuer, algorithm, digits, period in this order) or a base32 secret of at least 16 letters",
    )
}
pub fn optional_text_256() -> RefOr<Schema> {
    text(256, true, true)
}
pub fn optional_required_text_256() -> RefOr<Schema> {
    text(256, true, false)
}

/// `Email::parse`: one `@`, a name before it, a dotted domain after it, no spaces or control
/// characters; at most 254 characters in all.
fn email_schema(nullable: bool) -> RefOr<Schema> {
    let c = format!("[^@.{WS}{CC}]");
    let local = format!("[^@{WS}{CC}]+");
    string(
        format!("^[{WS}]*{local}@{c}+(?:\\.{c}+)+[{WS}]*$"),
        Some(254),
        nullable,
        "an e-mail address",
    )
}

pub fn email() -> RefOr<Schema> {
    email_schema(false)
}

/// An id: a UUID in canonical form.
pub fn uuid() -> RefOr<Schema> {
    string(
        "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$".into(),
        None,
        false,
        "an id",
    )
}

/// An optional id.
pub fn optional_uuid() -> RefOr<Schema> {
    string(
        "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$".into(),
        None,
        true,
        "an id",
    )
}

/// The numeric id of a business.
pub fn business_id() -> RefOr<Schema> {
    string(
        format!("^[{WS}]*[0-9]{{1,40}}[{WS}]*$"),
        None,
        false,
        "the numeric id of the business",
    )
}

fn url(nullable: bool) -> RefOr<Schema> {
    // As services::apps::parse_api_base_url checks it.
    string(
        "^https?://[A-Za-z0-9._~-]+(:[0-9]{1,5})?(/\\S*)?$".into(),
        Some(2000),
        nullable,
        "an http(s) URL: http(s)://host[:port][/path]",
    )
}

pub fn http_url() -> RefOr<Schema> {
    url(false)
}
pub fn optional_http_url() -> RefOr<Schema> {
    url(true)
}

/// A secret of 1 to `max` characters, taken as sent.
fn secret(max: usize, nullable: bool) -> RefOr<Schema> {
    let ty = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(ty)
            .min_length(Some(1))
            .max_length(Some(max))
            .build(),
    )
    .into()
}

pub fn secret_1024() -> RefOr<Schema> {
    secret(1024, false)
}
pub fn optional_secret_8192() -> RefOr<Schema> {
    secret(8192, true)
}

/// `parse_phone`: 6 to 20 digits, an optional leading `+`, spaces, dashes, dots and brackets;
/// blank means none.
pub fn optional_phone() -> RefOr<Schema> {
    let sep = r"[ \-.()]";
    string(
        format!("^[{WS}]*(?:\\+?(?:{sep}*[0-9]){{6,20}}{sep}*)?[{WS}]*$"),
        None,
        true,
        "a phone number such as +1 415 555 0100",
    )
}

/// `WorkspaceSettings::parse`: an object; the known keys are checked, others kept.
pub fn workspace_settings() -> RefOr<Schema> {
    use utoipa::openapi::schema::AdditionalProperties;
    let domain = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(format!(
                "^[{WS}]*[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)+[{WS}]*$"
            )))
            .max_length(Some(253))
            .build()
    };
    let aliases = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("alias domain → main domain, for matching e-mails"))
        .property_names(Some(domain()))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::Object(
            domain(),
        )))))
        .build();
    let share = ObjectBuilder::new()
        .schema_type(Type::Number)
        .exclusive_minimum(Some(0.0))
        .maximum(Some(1.0))
        .description(Some(
            "the share of a business's seats one change may remove without confirmation (0.2 when unset)",
        ))
        .build();
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
            .property("email_domain_aliases", aliases)
            .property("max_removal_share", share)
            .property(
                "apply_group_plans",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .description(Some(
                        "IdP group plans run by themselves when the directory or the mappings change; unset or false, an Admin applies each plan",
                    ))
                    .build(),
            )
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .build(),
    )
    .into()
}

pub fn optional_required_text_100() -> RefOr<Schema> {
    text(100, true, false)
}

fn array(items: RefOr<Schema>, nullable: bool) -> RefOr<Schema> {
    use utoipa::openapi::schema::ArrayBuilder;
    let ty = if nullable {
        SchemaType::from_iter([Type::Array, Type::Null])
    } else {
        SchemaType::Type(Type::Array)
    };
    Schema::Array(ArrayBuilder::new().schema_type(ty).items(items).build()).into()
}

pub fn uuid_list() -> RefOr<Schema> {
    array(uuid(), false)
}
pub fn optional_uuid_list() -> RefOr<Schema> {
    array(uuid(), true)
}

/// Other e-mails: each blank (ignored) or an e-mail address.
pub fn email_list() -> RefOr<Schema> {
    let c = format!("[^@.{WS}{CC}]");
    let local = format!("[^@{WS}{CC}]+");
    array(
        string(
            format!("^[{WS}]*(?:{local}@{c}+(?:\\.{c}+)+)?[{WS}]*$"),
            Some(254),
            false,
            "an e-mail address (blank entries are ignored)",
        ),
        false,
    )
}

/// A password as typed at sign-in: 1 to 1024 characters.
pub fn secret_1024_any() -> RefOr<Schema> {
    secret(1024, false)
}

/// `validate_new_password`: 12 to 1024 characters.
pub fn new_password() -> RefOr<Schema> {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(12))
            .max_length(Some(1024))
            .build(),
    )
    .into()
}

/// One or more ids (a list the server refuses empty).
pub fn uuid_list_nonempty() -> RefOr<Schema> {
    use utoipa::openapi::schema::ArrayBuilder;
    Schema::Array(
        ArrayBuilder::new()
            .schema_type(SchemaType::Type(Type::Array))
            .items(uuid())
            .min_items(Some(1))
            .build(),
    )
    .into()
}

/// A business role of either platform; the other platform's role is refused with 409.
pub fn business_role() -> RefOr<Schema> {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(castellan_domain::roles::ALL_ROLES))
            .description(Some(
                "Pinterest `BIZ_ADMIN`/`EMPLOYEE`, TikTok `ADMIN`/`STANDARD`",
            ))
            .build(),
    )
    .into()
}
