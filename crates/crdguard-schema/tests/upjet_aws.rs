//! The realistic large upgrade: upjet-aws v2.5.0 → v2.6.0 (2,015 → 2,043 CRDs, ~97 MB of YAML
//! each). Run with `--nocapture` to see the summary.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::*;
use crdguard_schema::Severity::{Info, Warning};
use crdguard_schema::{Check, diff_sets};
use rayon::prelude::*;
use serde_json::Value;

/// A scratch directory removed when dropped, even if the test fails.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!(
            "crdguard-schema-upjet-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn unpack(tag: &str, into: &Path) -> PathBuf {
    let archive = corpus().join(format!("large/upjet-aws-{tag}.tar.xz"));
    let status = Command::new("tar")
        .arg("xJf")
        .arg(&archive)
        .arg("-C")
        .arg(into)
        .status()
        .expect("run tar");
    assert!(status.success(), "tar xJf {}", archive.display());
    into.join(tag).join("package/crds")
}

fn load_dir(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("crds dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files.par_iter().flat_map_iter(|f| load_crds(f)).collect()
}

#[test]
fn upjet_aws_v2_5_0_to_v2_6_0() {
    let scratch = Scratch::new();
    let started = Instant::now();
    let old = load_dir(&unpack("v2.5.0", &scratch.0));
    let new = load_dir(&unpack("v2.6.0", &scratch.0));
    let loaded = started.elapsed();
    assert_eq!((old.len(), new.len()), (2015, 2043));

    let started = Instant::now();
    let diff = diff_sets(&old, &new);
    let diffed = started.elapsed();

    println!("upjet-aws v2.5.0 -> v2.6.0: loaded in {loaded:.2?}, diffed in {diffed:.2?}");
    println!(
        "{} CRDs, {} with findings: {} errors, {} warnings, {} infos",
        diff.items.len(),
        diff.items.iter().filter(|i| !i.findings.is_empty()).count(),
        diff.summary.error,
        diff.summary.warning,
        diff.summary.info
    );
    for (check, severity, count) in diff.counts_by_check() {
        println!("  {count:>6} {severity:<7} {check}");
    }

    // Pinned facts of this upgrade: 28 new CRDs, none removed, no breaking change; the
    // v1beta2 storage moves are to versions v2.5.0 already serves.
    assert_eq!(diff.items.len(), 2043);
    assert_eq!(diff.summary.error, 0);
    let count = |check: Check| diff.findings().filter(|(_, f)| f.check == check).count();
    assert_eq!(count(Check::CrdAdded), 28);
    assert_eq!(count(Check::CrdRemoved), 0);
    assert!(count(Check::StorageVersionChanged) > 300);
    assert!(
        diff.findings()
            .filter(|(_, f)| f.check == Check::StorageVersionChanged)
            .all(|(_, f)| f.severity == Info)
    );
    // The only warnings: v2.6.0 adds clusterOperationMode to ElastiCache ReplicationGroup
    // v1beta1 but not v1beta2, which share objects (no conversion strategy in the files).
    assert!(
        diff.findings()
            .filter(|(_, f)| f.severity == Warning)
            .all(
                |(crd, f)| crd == "replicationgroups.elasticache.aws.upbound.io"
                    && f.check == Check::ServedVersionsIncompatible
            )
    );
}
