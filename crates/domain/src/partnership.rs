//! Changes to a native partnership: stop sharing our assets with a partner, or end the
//! partnership. Each is planned from what the last check found of the partner, previewed with
//! its exact platform calls, and made only with the hash of the plan that was shown.

use crate::FieldError;
use crate::planning::combined_hash;

/// What an admin asks of a partner.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PartnerRequest {
    /// Stop sharing these of our assets with the partner (none named: every one it uses).
    StopSharing {
        #[serde(default)]
        assets: Vec<String>,
    },
    /// End the partnership, both ways it runs.
    Remove,
}

/// The partner as planning sees it (from the last check).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartnerView {
    pub partner_id: String,
    pub name: String,
    /// Our assets it uses: (asset id, asset type), sorted.
    pub ours: Vec<(String, String)>,
    /// Its assets we use (ids), sorted.
    pub theirs: Vec<String>,
}

/// The platform-neutral change a plan makes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum PartnerChange {
    /// Revoke the partner's access to these of our assets: (asset id, asset type).
    StopSharing {
        partner_id: String,
        assets: Vec<(String, String)>,
    },
    /// End the partnership: the side where it uses our assets, the side where we use its.
    RemovePartner {
        partner_id: String,
        uses_our_assets: bool,
        shares_with_us: bool,
    },
}

/// A plan: the change, what it does in words, and the hash of its inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerPlan {
    pub change: PartnerChange,
    pub summary: String,
    pub plan_hash: String,
}

/// Plans `req` on `partner`; refuses, naming the field, what cannot be done: an asset the
/// partner does not use, or nothing to stop sharing.
pub fn plan_partner(
    req: &PartnerRequest,
    partner: &PartnerView,
) -> Result<PartnerPlan, FieldError> {
    let input = serde_json::json!({ "request": req, "partner": partner }).to_string();
    let plan_hash = combined_hash(&[&input]);
    let name = &partner.name;
    let (change, summary) = match req {
        PartnerRequest::StopSharing { assets } => {
            let chosen: Vec<(String, String)> = if assets.is_empty() {
                partner.ours.clone()
            } else {
                let mut out = Vec::new();
                for a in assets {
                    let found = partner.ours.iter().find(|(id, _)| id == a).ok_or_else(|| {
                        FieldError::new("assets", format!("{name} does not use asset {a}"))
                    })?;
                    if !out.contains(found) {
                        out.push(found.clone());
                    }
                }
                out
            };
            if chosen.is_empty() {
                return Err(FieldError::new(
                    "assets",
                    format!("no asset of ours is shared with {name}"),
                ));
            }
            let summary = format!(
                "Stop sharing {} with {name}: it and its users lose access",
                crate::words::count(chosen.len(), "asset", "assets")
            );
            (
                PartnerChange::StopSharing {
                    partner_id: partner.partner_id.clone(),
                    assets: chosen,
                },
                summary,
            )
        }
        PartnerRequest::Remove => (
            PartnerChange::RemovePartner {
                partner_id: partner.partner_id.clone(),
                uses_our_assets: !partner.ours.is_empty(),
                // A partner with nothing shared either way is still a partnership to end.
                shares_with_us: !partner.theirs.is_empty(),
            },
            format!(
                "End the partnership with {name}: it loses {} of ours, and we lose {} of its",
                crate::words::count(partner.ours.len(), "asset", "assets"),
                crate::words::count(partner.theirs.len(), "asset", "assets"),
            ),
        ),
    };
    Ok(PartnerPlan {
        change,
        summary,
        plan_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> PartnerView {
        PartnerView {
            partner_id: "2".into(),
            name: "Brightwave".into(),
            ours: vec![
                ("a1".into(), "AD_ACCOUNT".into()),
                ("a2".into(), "AD_ACCOUNT".into()),
            ],
            theirs: vec![],
        }
    }

    #[test]
    fn stop_sharing_names_what_it_revokes_and_refuses_what_is_not_shared() {
        let p = plan_partner(
            &PartnerRequest::StopSharing {
                assets: vec!["a2".into()],
            },
            &view(),
        )
        .unwrap();
        assert_eq!(
            p.change,
            PartnerChange::StopSharing {
                partner_id: "2".into(),
                assets: vec![("a2".into(), "AD_ACCOUNT".into())]
            }
        );
        let e = plan_partner(
            &PartnerRequest::StopSharing {
                assets: vec!["zz".into()],
            },
            &view(),
        )
        .unwrap_err();
        assert_eq!(e.field, "assets");
        let all = plan_partner(&PartnerRequest::StopSharing { assets: vec![] }, &view()).unwrap();
        assert!(all.summary.contains("2 assets"), "{}", all.summary);
    }

    #[test]
    fn the_hash_changes_with_the_partner() {
        let a = plan_partner(&PartnerRequest::Remove, &view()).unwrap();
        let mut v = view();
        v.ours.pop();
        let b = plan_partner(&PartnerRequest::Remove, &v).unwrap();
        assert_ne!(a.plan_hash, b.plan_hash);
        assert_eq!(
            a.change,
            PartnerChange::RemovePartner {
                partner_id: "2".into(),
                uses_our_assets: true,
                shares_with_us: false
            }
        );
    }
}
