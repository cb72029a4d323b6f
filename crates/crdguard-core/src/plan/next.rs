//! What moves a blocked plan forward: the flag or command for each kind of blocker, so the
//! verdict of a plan that stops ends with what to run next (SPEC §12: paths forward).

use super::report::{Action, CheckStatus, Code, Plan};

/// One way forward from a blocked plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextStep {
    /// The flag to add to the same command, when a flag is the way forward.
    pub flag: Option<&'static str>,
    /// What it does and what to check before using it.
    pub text: String,
    /// How many items it concerns (0: it is about the bundle or the cluster, not items).
    pub items: usize,
}

/// The ways forward from `plan`, most items first; empty when the plan is not blocked or no
/// flag or command can move it (then only the reasons say what to change).
pub fn next_steps(plan: &Plan) -> Vec<NextStep> {
    let overrides = &plan.overrides;
    let mut steps: Vec<NextStep> = Vec::new();
    let mut add =
        |flag: Option<&'static str>, text: &str| match steps.iter_mut().find(|s| s.text == text) {
            Some(step) => step.items += 1,
            None => steps.push(NextStep {
                flag,
                text: text.to_string(),
                items: 1,
            }),
        };
    for item in plan.items.iter().filter(|i| i.action.stops()) {
        for reason in &item.reasons {
            match reason.code {
                Code::OwnedByOther if !overrides.take_ownership => add(
                    Some("--take-ownership"),
                    "take the CRDs over from their current owner (agree it with that owner first)",
                ),
                Code::StoredVersionRemoved if !overrides.migrate => add(
                    Some("--migrate"),
                    "rewrite the stored objects in the new storage version before the versions are dropped",
                ),
                Code::StoredVersionsUnknown => add(
                    None,
                    "plan against the live cluster, or a snapshot written by `crdguard snapshot` \
                     (it keeps status.storedVersions)",
                ),
                Code::BreakingChange if !overrides.allow_breaking => add(
                    Some("--allow-breaking"),
                    "review the error findings first (`crdguard snapshot --objects` lets the plan \
                     check stored objects); then apply the breaking changes anyway",
                ),
                Code::BreaksOtherProduct => add(
                    None,
                    "another product's recorded requirement would break: keep the bundle within \
                     it, or drop the entry of a product that is gone (`crdguard requirements \
                     remove PRODUCT`)",
                ),
                Code::AdmissionDenied => add(
                    None,
                    "the cluster's admission policy refuses the write: its message in the reason \
                     says what it allows",
                ),
                _ => {}
            }
        }
        if item.action == Action::Conflict && item.reasons.is_empty() {
            add(None, "see the conflicting items' reasons");
        }
    }
    let mut about_bundles: Vec<NextStep> = Vec::new();
    for bundle in &plan.bundles {
        if bundle.reasons.iter().any(|r| r.code == Code::BelowMinimum) {
            about_bundles.push(NextStep {
                flag: None,
                text: format!(
                    "{name} is below the policy's minimum: add a release at or above it as a \
                     source (its CRD files, or `{name}@VERSION` where the catalog names a \
                     published file to fetch and verify: `crdguard catalog show {name}`)",
                    name = bundle.name
                ),
                items: 0,
            });
        }
    }
    let failed: Vec<&str> = plan
        .preflight
        .iter()
        .filter(|c| c.status == CheckStatus::Fail && c.check != "bundle-version")
        .map(|c| c.check.as_str())
        .collect();
    if !failed.is_empty() {
        about_bundles.push(NextStep {
            flag: None,
            text: format!(
                "preflight {} failed: its detail says what the policy needs",
                failed.join(", ")
            ),
            items: 0,
        });
    }
    steps.sort_by_key(|s| std::cmp::Reverse(s.items));
    steps.extend(about_bundles);
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::report::{
        BundleState, ClusterInfo, ItemPlan, Overrides, Reason, Step, Summary, Verdict,
    };

    fn item(action: Action, codes: &[Code]) -> ItemPlan {
        ItemPlan {
            crd: "widgets.example.com".into(),
            kind: "CustomResourceDefinition".into(),
            bundle: None,
            class: "extension",
            action,
            installed: None,
            desired: BundleState {
                version: None,
                channel: None,
            },
            reasons: codes.iter().map(|c| Reason::new(*c, "why")).collect(),
            findings: Vec::new(),
            objects: None,
            step: Step::None,
            observed_resource_version: None,
            companion: None,
            rule_rows: Vec::new(),
        }
    }

    fn plan(items: Vec<ItemPlan>, overrides: Overrides) -> Plan {
        Plan {
            api_version: "crdguard.dev/v1alpha1",
            kind: "Plan",
            cluster: ClusterInfo {
                source: "snapshot",
                server_version: None,
                id: None,
            },
            preflight: Vec::new(),
            bundles: Vec::new(),
            summary: Summary::of(&items),
            items,
            verdict: Verdict::Blocked,
            overrides,
            warnings: Vec::new(),
            apply: None,
            install: None,
            saved: None,
        }
    }

    #[test]
    fn each_blocker_names_its_flag_most_items_first() {
        let p = plan(
            vec![
                item(Action::Blocked, &[Code::BreakingChange]),
                item(
                    Action::Blocked,
                    &[Code::StoredVersionRemoved, Code::BreakingChange],
                ),
                item(Action::Conflict, &[Code::OwnedByOther]),
                item(Action::Create, &[Code::Absent]),
            ],
            Overrides::default(),
        );
        let flags: Vec<_> = next_steps(&p).iter().map(|s| (s.flag, s.items)).collect();
        assert_eq!(
            flags,
            vec![
                (Some("--allow-breaking"), 2),
                (Some("--migrate"), 1),
                (Some("--take-ownership"), 1)
            ]
        );
    }

    #[test]
    fn a_flag_already_given_is_not_suggested_again() {
        let overrides = Overrides {
            take_ownership: true,
            ..Overrides::default()
        };
        let p = plan(
            vec![item(Action::Conflict, &[Code::OwnedByOther])],
            overrides,
        );
        assert!(next_steps(&p).is_empty());
    }

    #[test]
    fn nothing_blocked_means_no_next_step() {
        let p = plan(
            vec![item(
                Action::Keep,
                &[Code::NewerInstalled, Code::BreakingChange],
            )],
            Overrides::default(),
        );
        assert!(next_steps(&p).is_empty());
    }
}
