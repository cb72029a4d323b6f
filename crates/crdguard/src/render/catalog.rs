//! Tables of `crdguard catalog add|list|show` for people; JSON and YAML print the same values.

use crdguard_app::catalog::AddOutcome;

pub fn add_table(outcomes: &[AddOutcome]) -> String {
    let mut out = String::new();
    for o in outcomes {
        let channel = o
            .channel
            .as_deref()
            .map(|c| format!("/{c}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{} {}{channel} from {}: {}\n",
            o.bundle,
            o.release,
            o.file,
            match o.action {
                "added" => "recorded",
                "would-add" => "would be recorded (--dry-run)",
                _ => "already in the catalog; nothing recorded",
            }
        ));
        out.push_str(&format!(
            "  Kubernetes >= {}; {} CRDs\n",
            o.min_kubernetes.as_deref().unwrap_or("?"),
            o.crds.len()
        ));
        for crd in &o.crds {
            out.push_str(&format!(
                "    {:<52} served {:<24} storage {}\n",
                crd.name,
                crd.served.join(","),
                crd.storage
            ));
        }
        for companion in &o.companions {
            out.push_str(&format!("  with {companion}\n"));
        }
        if let Some(path) = &o.path {
            out.push_str(&format!("  in {path}\n"));
        }
    }
    out
}

/// One line per release: tag, kind, and per channel its CRD count and minimum Kubernetes.
pub fn list_table(list: &serde_json::Value, markdown: bool) -> String {
    let mut out = String::new();
    if markdown {
        out.push_str("| bundle | release | kind | channels |\n|---|---|---|---|\n");
    }
    let empty = Vec::new();
    for bundle in list["bundles"].as_array().unwrap_or(&empty) {
        let name = bundle["name"].as_str().unwrap_or("");
        if !markdown {
            out.push_str(&format!(
                "{name} ({})\n",
                bundle["repository"].as_str().unwrap_or("")
            ));
        }
        for release in bundle["releases"].as_array().unwrap_or(&empty) {
            let channels: Vec<String> = release["channels"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .map(|c| {
                    format!(
                        "{}{} CRDs, Kubernetes >= {}",
                        channel_prefix(&c["channel"]),
                        c["crds"],
                        c["minKubernetes"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            let tag = release["tag"].as_str().unwrap_or("");
            let kind = release["kind"].as_str().unwrap_or("");
            if markdown {
                out.push_str(&format!(
                    "| `{name}` | `{tag}` | {kind} | {} |\n",
                    channels.join("; ")
                ));
            } else {
                out.push_str(&format!("  {tag:<22} {kind:<8} {}\n", channels.join("; ")));
            }
        }
    }
    let products = list["products"].as_array().unwrap_or(&empty);
    if !products.is_empty() {
        out.push_str(if markdown {
            "\n| product | policies (`--for PRODUCT@VERSION`) |\n|---|---|\n"
        } else {
            "\nBuilt-in product policies (--for PRODUCT@VERSION; `catalog show PRODUCT@VERSION` shows one)\n"
        });
        for product in products {
            let name = product["product"].as_str().unwrap_or("");
            let versions = strings(&product["versions"]);
            if markdown {
                out.push_str(&format!("| `{name}` | {} |\n", versions.join(", ")));
            } else {
                out.push_str(&format!("  {name:<22} {}\n", versions.join(", ")));
            }
        }
    }
    out
}

/// A release's facts, per channel.
/// `catalog show` for people: a release, a bundle's releases, a product's policies, or one
/// policy.
pub fn show_table(value: &serde_json::Value) -> String {
    match value["kind"].as_str() {
        Some("Policy") => policy_table(value),
        Some("Product") => {
            let empty = Vec::new();
            value["policies"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .map(policy_table)
                .collect::<Vec<_>>()
                .join("\n")
        }
        Some("Bundle") => list_table(
            &serde_json::json!({ "bundles": [value], "products": [] }),
            false,
        ),
        _ => release_table(value),
    }
}

/// One product policy: Kubernetes minimum and, per bundle, the versions and kinds it needs.
fn policy_table(policy: &serde_json::Value) -> String {
    let empty = Vec::new();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
    let mut out = format!(
        "{} {} ({})\n",
        text(&policy["product"]),
        text(&policy["version"]),
        match policy["kubernetesMinimum"].as_str() {
            Some(minimum) => format!("Kubernetes >= {minimum}"),
            None => "no Kubernetes minimum".to_string(),
        }
    );
    for bundle in policy["bundles"].as_array().unwrap_or(&empty) {
        out.push_str(&format!(
            "  {}: minimum {}, recommended {}, tested maximum {}, channel {}; install {}, upgrade {}, on conflict {}\n",
            text(&bundle["name"]),
            text(&bundle["minimum"]),
            text(&bundle["recommended"]),
            text(&bundle["testedMaximum"]),
            text(&bundle["channel"]),
            text(&bundle["install"]),
            text(&bundle["upgrade"]),
            text(&bundle["onConflict"]),
        ));
        let kinds = strings(&bundle["requiredKinds"]);
        if !kinds.is_empty() {
            out.push_str(&format!("    required kinds: {}\n", kinds.join(", ")));
        }
        if let Some(served) = bundle["servedVersions"].as_object() {
            let reads: Vec<String> = served
                .iter()
                .map(|(kind, versions)| format!("{kind} {}", strings(versions).join("+")))
                .collect();
            out.push_str(&format!(
                "    reads (must stay served): {}\n",
                reads.join(", ")
            ));
        }
    }
    out
}

/// The strings of a JSON list (nothing for anything else).
fn strings(value: &serde_json::Value) -> Vec<&str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect()
}

fn release_table(release: &serde_json::Value) -> String {
    let empty = Vec::new();
    let mut out = format!(
        "{} {} ({})\n",
        release["bundle"].as_str().unwrap_or(""),
        release["tag"].as_str().unwrap_or(""),
        release["releaseKind"].as_str().unwrap_or("")
    );
    for channel in release["channels"].as_array().unwrap_or(&empty) {
        out.push_str(&format!(
            "  {}Kubernetes >= {}, {} CRDs, {}\n",
            channel_prefix(&channel["channel"]),
            channel["minKubernetes"].as_str().unwrap_or("?"),
            channel["crds"].as_array().map_or(0, Vec::len),
            channel["assetUrl"]
                .as_str()
                .unwrap_or("no published file of exactly these CRDs (give the CRD files instead)")
        ));
        for extra in channel["extras"].as_array().unwrap_or(&empty) {
            out.push_str(&format!(
                "    with {}/{}\n",
                extra["kind"].as_str().unwrap_or(""),
                extra["name"].as_str().unwrap_or("")
            ));
        }
    }
    out
}

/// `standard: ` before a channel's facts; nothing for a bundle without channels.
fn channel_prefix(channel: &serde_json::Value) -> String {
    channel
        .as_str()
        .map(|c| format!("{c}: "))
        .unwrap_or_default()
}
