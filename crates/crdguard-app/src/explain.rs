//! `crdguard explain CRD`: the plan's decision for one item, in full (SPEC §3).

use crdguard_core::plan::{ItemPlan, Plan};

use crate::error::CommandError;
use crate::plan::PlanSettings;

#[derive(Debug, Clone, Default)]
pub struct ExplainSettings {
    /// The item: its full name, `Kind/name` for a companion, or a CRD's plural.
    pub item: String,
    pub plan: PlanSettings,
}

/// The plan and the index of the item asked for.
pub fn run(
    args: &ExplainSettings,
    progress: &dyn crdguard_kube::Progress,
) -> Result<(Plan, usize), CommandError> {
    let plan = crate::plan::run(&args.plan, progress)?;
    let index = find(&plan, &args.item)?;
    Ok((plan, index))
}

/// The item `wanted` names: its full name (or `Kind/name`), else the one CRD whose plural it
/// is. Otherwise bad input naming the closest items.
fn find(plan: &Plan, wanted: &str) -> Result<usize, CommandError> {
    if let Some(index) = plan.items.iter().position(|i| i.crd == wanted) {
        return Ok(index);
    }
    let by_plural: Vec<usize> = plan
        .items
        .iter()
        .enumerate()
        .filter(|(_, i)| !i.is_companion() && i.crd.split_once('.').map(|(p, _)| p) == Some(wanted))
        .map(|(index, _)| index)
        .collect();
    match by_plural.as_slice() {
        [only] => return Ok(*only),
        [] => {}
        several => {
            let names: Vec<&str> = several
                .iter()
                .map(|i| plan.items[*i].crd.as_str())
                .collect();
            return Err(CommandError::usage(format!(
                "{wanted:?} is the plural of several CRDs in the plan: {}; give the full name",
                names.join(", ")
            )));
        }
    }
    Err(CommandError::usage(format!(
        "the plan has no item {wanted:?}{}",
        suggestion(&plan.items, wanted)
    )))
}

fn suggestion(items: &[ItemPlan], wanted: &str) -> String {
    let mut scored: Vec<(f64, &str)> = items
        .iter()
        .map(|i| (strsim::jaro_winkler(&i.crd, wanted), i.crd.as_str()))
        .filter(|(score, _)| *score > 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    match scored.first() {
        Some((_, name)) => format!("; did you mean {name}?"),
        None if items.is_empty() => "; it has no items at all".to_string(),
        None => format!(
            " ({} items, e.g. {}; `crdguard plan` with the same inputs lists them)",
            items.len(),
            items[0].crd
        ),
    }
}
