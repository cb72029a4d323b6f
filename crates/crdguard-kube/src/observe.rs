//! Observing the cluster: every CRD (with status and managed fields), the server version, and
//! the ValidatingAdmissionPolicies and bindings if the server serves that API.

use serde_json::Value;

use crdguard_core::companion::{VALIDATING_ADMISSION_POLICY, VALIDATING_ADMISSION_POLICY_BINDING};
use crdguard_core::load::{OtherObject, crd_from_value};
use crdguard_core::state::{ClusterSource, ObservedState};
use crdguard_core::{InputError, Origin};

use crate::{CRD_PATH, Cluster, ClusterError};

const PAGE_SIZE: usize = 250;
/// The admission-policy collections, from the one table of companion kinds in the core.
const VAP_PATH: &str = VALIDATING_ADMISSION_POLICY.collection;
const VAP_BINDING_PATH: &str = VALIDATING_ADMISSION_POLICY_BINDING.collection;

impl Cluster {
    /// GETs a path and parses the JSON answer.
    pub(crate) async fn get_json(
        &self,
        operation: &str,
        path: &str,
    ) -> Result<Value, ClusterError> {
        self.send(operation, crate::request::get_path(path)).await
    }

    /// Lists a collection page by page; items get `apiVersion`/`kind` (list items lack them).
    pub(crate) async fn list_all(
        &self,
        operation: &str,
        path: &str,
        api_version: &str,
        kind: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        Ok(self
            .list_all_at(operation, path, api_version, kind)
            .await?
            .0)
    }

    /// `list_all`, and the list's `resourceVersion` (one consistent snapshot across the pages),
    /// from which a watch continues.
    pub(crate) async fn list_all_at(
        &self,
        operation: &str,
        path: &str,
        api_version: &str,
        kind: &str,
    ) -> Result<(Vec<Value>, String), ClusterError> {
        let mut items = Vec::new();
        let version = self
            .for_each_page(operation, path, PAGE_SIZE, |page| {
                for mut item in page {
                    if let Value::Object(map) = &mut item {
                        map.entry("apiVersion")
                            .or_insert_with(|| api_version.into());
                        map.entry("kind").or_insert_with(|| kind.into());
                    }
                    items.push(item);
                }
            })
            .await?;
        Ok((items, version))
    }

    /// The metadata of every CRD (name, labels, annotations; no spec): enough to pick one by
    /// its name and markers, at a small part of a full list's size.
    pub async fn crd_metadata(&self) -> Result<Vec<Value>, ClusterError> {
        let request = kube::core::Request::new(CRD_PATH)
            .list_metadata(&kube::core::params::ListParams::default());
        let list = self
            .send("list CustomResourceDefinitions (metadata)", request)
            .await?;
        Ok(match list.get("items") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        })
    }

    /// Lists a collection `page_size` items a page, handing each page's items to `sink` (so a
    /// caller that does not keep them holds one page at a time); returns the list's
    /// `resourceVersion`.
    pub(crate) async fn for_each_page(
        &self,
        operation: &str,
        path: &str,
        page_size: usize,
        mut sink: impl FnMut(Vec<Value>),
    ) -> Result<String, ClusterError> {
        let mut token: Option<String> = None;
        let collection = kube::core::Request::new(path);
        loop {
            let params = kube::core::params::ListParams {
                limit: Some(u32::try_from(page_size).unwrap_or(u32::MAX)),
                continue_token: token.take(),
                ..Default::default()
            };
            let mut page = self.send(operation, collection.list(&params)).await?;
            if let Some(Value::Array(page_items)) = page.get_mut("items").map(Value::take) {
                sink(page_items);
            }
            token = page
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                return Ok(page
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string());
            }
        }
    }

    /// Whether the server serves `resource` in the API group version at `group_version_path`
    /// (e.g. `/apis/admissionregistration.k8s.io/v1`), from its discovery document.
    pub async fn serves(
        &self,
        group_version_path: &str,
        resource: &str,
    ) -> Result<bool, ClusterError> {
        match self
            .get_json(
                &format!("discover {group_version_path}"),
                group_version_path,
            )
            .await
        {
            Ok(list) => Ok(list
                .get("resources")
                .and_then(Value::as_array)
                .is_some_and(|r| {
                    r.iter()
                        .any(|x| x.get("name").and_then(Value::as_str) == Some(resource))
                })),
            Err(e) if matches!(e.code(), Some(404 | 403 | 500 | 503)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Which cluster this is (SPEC §11): the `kube-system` namespace UID where the core API
    /// is served and readable, else the server URL and the digest of its CA certificates.
    pub async fn identity(&self) -> Result<String, ClusterError> {
        let request = kube::core::Request::new("/api/v1/namespaces")
            .get("kube-system", &kube::core::params::GetParams::default());
        match self
            .send(
                "read the kube-system namespace (the cluster's identity)",
                request,
            )
            .await
        {
            Ok(namespace) => {
                if let Some(uid) = namespace.pointer("/metadata/uid").and_then(Value::as_str) {
                    return Ok(format!("uid:{uid}"));
                }
            }
            // No core API (a bare CRD server), or no permission to read it: the fallback.
            Err(e) if matches!(e.code(), Some(401 | 403 | 404)) => {}
            Err(e) => return Err(e),
        }
        Ok(format!(
            "server:{};ca:{}",
            self.server,
            self.ca_digest.as_deref().unwrap_or("none")
        ))
    }

    /// The observed state of the cluster.
    pub async fn observe(&self) -> Result<ObservedState, ClusterError> {
        let mut state = ObservedState::empty(ClusterSource::Live);
        state.cluster_id = Some(self.identity().await?);
        state.server_version = self.server_version.parse().ok();
        state.server_version_text = Some(self.server_version.clone());
        let items = self
            .list_all(
                "list CustomResourceDefinitions",
                CRD_PATH,
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
            )
            .await?;
        for (index, item) in items.into_iter().enumerate() {
            let origin = Origin {
                source: self.server.clone(),
                document: 1,
                item: Some(index),
            };
            // The server validated these; a failure here is crdguard's to explain, not the user's.
            let crd =
                crd_from_value(origin, item).map_err(|e: InputError| ClusterError::Other {
                    operation: "read a CustomResourceDefinition".into(),
                    message: e.to_string(),
                })?;
            state.crds.insert(crd.name.clone(), crd);
        }
        for (path, kind) in [
            (VAP_PATH, VALIDATING_ADMISSION_POLICY.kind),
            (VAP_BINDING_PATH, VALIDATING_ADMISSION_POLICY_BINDING.kind),
        ] {
            match self
                .list_all(
                    &format!("list {kind}s"),
                    path,
                    "admissionregistration.k8s.io/v1",
                    kind,
                )
                .await
            {
                Ok(objects) => {
                    if path == VAP_PATH {
                        state.admission_served = Some(true);
                    }
                    for (index, object) in objects.into_iter().enumerate() {
                        let name = object
                            .pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                        state.admission.push(OtherObject {
                            origin: Origin {
                                source: self.server.clone(),
                                document: 1,
                                item: Some(index),
                            },
                            api_version: "admissionregistration.k8s.io/v1".into(),
                            kind: kind.into(),
                            name,
                            object,
                        });
                    }
                }
                // Servers without the API (older than 1.30, or the bare CRD server) are fine.
                Err(e) if matches!(e.code(), Some(404 | 403 | 500 | 503)) => {
                    if path == VAP_PATH && e.code() == Some(404) {
                        state.admission_served = Some(false);
                    }
                    tracing::debug!(error = %e, "admission policies not available");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(state)
    }
}
