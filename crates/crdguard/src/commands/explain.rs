//! `crdguard explain CRD`: the plan's decision for one item, in full (SPEC §3).

use crdguard_core::plan::{ItemPlan, Plan};

use crate::cli::ExplainArgs;
use crate::exit::{CliError, Exit};
use crate::render;

pub fn run(args: &ExplainArgs) -> Result<Exit, CliError> {
    let plan = super::plan::make_plan(&args.plan)?;
    let index = find(&plan, &args.item)?;
    render::explain(&plan, index, args.plan.output)?;
    Ok(if plan.items[index].action.stops() {
        Exit::Blocked
    } else {
        Exit::Ok
    })
}

/// The item `wanted` names: its full name (or `Kind/name`), else the one CRD whose plural it
/// is. Otherwise bad input naming the closest items.
fn find(plan: &Plan, wanted: &str) -> Result<usize, CliError> {
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
            return Err(CliError::usage(format!(
                "{wanted:?} is the plural of several CRDs in the plan: {}; give the full name",
                names.join(", ")
            )));
        }
    }
    Err(CliError::usage(format!(
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
