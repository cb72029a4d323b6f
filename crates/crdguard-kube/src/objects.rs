//! Reading the custom resources of a CRD for the data-aware checks (SPEC §5 v2): paged, 500 a
//! page, one page in memory at a time, at the API version asked for (the server converts
//! stored objects to it; the stored version itself is not visible through the API).

use serde_json::Value;

use crdguard_core::Crd;

use crate::{Cluster, ClusterError};

/// Objects per page when reading custom resources.
pub const OBJECT_PAGE_SIZE: usize = 500;

impl Cluster {
    /// Streams every object of `crd` as served at `version` into `sink` (items get their
    /// `apiVersion` and `kind`, which list items lack); returns how many there were.
    pub async fn for_each_object(
        &self,
        crd: &Crd,
        version: &str,
        mut sink: impl FnMut(&Value),
    ) -> Result<usize, ClusterError> {
        let path = format!("/apis/{}/{version}/{}", crd.group, crd.plural);
        let api_version = format!("{}/{version}", crd.group);
        let mut count = 0;
        self.for_each_page(
            &format!("list {} at {version}", crd.name),
            &path,
            OBJECT_PAGE_SIZE,
            |page| {
                for mut item in page {
                    if let Value::Object(map) = &mut item {
                        map.entry("apiVersion")
                            .or_insert_with(|| api_version.clone().into());
                        map.entry("kind").or_insert_with(|| crd.kind.clone().into());
                    }
                    count += 1;
                    sink(&item);
                }
            },
        )
        .await?;
        Ok(count)
    }
}
