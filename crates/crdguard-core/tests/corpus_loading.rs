//! Every file of the corpus loads, and the CRD counts match `CRDS.tsv`.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use crdguard_core::load::load_text;
use crdguard_core::yaml::Limits;

fn expected_counts() -> BTreeMap<String, usize> {
    let tsv = std::fs::read_to_string(corpus().join("CRDS.tsv")).unwrap();
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let column = header.iter().position(|h| *h == "saved_path").unwrap();
    let mut counts = BTreeMap::new();
    for line in lines {
        let saved = line.split('\t').nth(column).unwrap().to_string();
        *counts.entry(saved).or_insert(0) += 1;
    }
    counts
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}

#[test]
fn every_corpus_manifest_loads_and_crd_counts_match_the_index() {
    let root = corpus();
    let expected = expected_counts();
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut checked = 0;
    let mut crds_seen = 0;
    for path in files {
        let relative = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let is_manifest = relative.ends_with(".yaml")
            || relative.ends_with(".yml")
            || relative.ends_with(".json");
        if !is_manifest || relative.contains("/templates/") || relative.starts_with("licenses/") {
            continue; // Helm templates are not YAML until rendered.
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let loaded = load_text(&relative, &text, Limits::default())
            .unwrap_or_else(|e| panic!("{relative} failed to load: {e}"));
        if let Some(count) = expected.get(&relative) {
            assert_eq!(loaded.crds.len(), *count, "{relative}");
            crds_seen += count;
        }
        checked += 1;
    }
    assert!(checked > 150, "{checked} files");
    assert!(crds_seen > 500, "{crds_seen} CRDs");
}

#[test]
fn prometheus_operator_unquoted_equals_enum_loads_as_a_string() {
    let loaded = load(
        "large/prometheus-operator/v0.93.0/example/prometheus-operator-crd-full/monitoring.coreos.com_alertmanagerconfigs.yaml",
    );
    let text = serde_json::to_string(&loaded.crds[0].object).unwrap();
    assert!(text.contains("\"=\""));
}

/// Both upjet-aws sets (2,015 and 2,043 CRDs), unpacked into a temp dir at run time.
#[test]
fn upjet_aws_sets_load_with_the_indexed_counts() {
    let expected = expected_counts();
    for (tag, count) in [("v2.5.0", 2015), ("v2.6.0", 2043)] {
        let dir =
            std::env::temp_dir().join(format!("crdguard-test-upjet-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let status = std::process::Command::new("tar")
            .arg("xJf")
            .arg(corpus().join(format!("large/upjet-aws-{tag}.tar.xz")))
            .arg("-C")
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success());
        let mut files = Vec::new();
        walk(&dir, &mut files);
        let mut total = 0;
        for path in &files {
            let text = std::fs::read_to_string(path).unwrap();
            total += load_text(&path.display().to_string(), &text, Limits::default())
                .unwrap()
                .crds
                .len();
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(total, count, "{tag}");
        let indexed: usize = expected
            .iter()
            .filter(|(p, _)| p.contains(&format!("provider-upjet-aws/{tag}/")))
            .map(|(_, c)| c)
            .sum();
        assert_eq!(total, indexed, "{tag} vs CRDS.tsv");
    }
}
