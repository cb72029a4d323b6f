//! Which stored objects a plan needs read: the application layer reads them (live or from a
//! snapshot) between a first and a final plan (SPEC §5 v2).

use crdguard_schema::evidence::judged_by_objects;

use super::Plan;
use crate::objects::ObjectReads;

impl Plan {
    /// The reads that could change the plan: items with findings the objects judge.
    pub fn object_reads(&self) -> Vec<ObjectReads> {
        self.items
            .iter()
            .filter(|item| !item.is_companion())
            .filter_map(|item| {
                let mut versions: Vec<String> = item
                    .findings
                    .iter()
                    .filter(|f| judged_by_objects(f))
                    .map(|f| f.version.clone())
                    .collect();
                versions.sort();
                versions.dedup();
                (!versions.is_empty()).then(|| ObjectReads {
                    crd: item.crd.clone(),
                    versions,
                })
            })
            .collect()
    }
}
