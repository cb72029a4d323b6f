//! Speed on a realistic large plan: the 2,043-CRD upjet-aws upgrade v2.5.0 → v2.6.0, every
//! write predicted against Gateway API's `safe-upgrades` (which matches every CRD write) and
//! crdguard's guard. Unpacking and parsing ~200 MB of YAML dominates, so it is not part of the
//! default run: `cargo test -p crdguard-guard --release --test performance -- --ignored --nocapture`.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected input

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::*;
use crdguard_admission::{PolicyEvaluator, render_guard};
use crdguard_core::admission::{AdmissionPrediction, AdmissionPredictor};
use crdguard_core::load::load_text;
use crdguard_core::model::Crd;
use crdguard_core::yaml::Limits;

fn unpack(archive: &str, into: &Path) -> BTreeMap<String, Crd> {
    let status = Command::new("tar")
        .arg("xJf")
        .arg(corpus(archive))
        .arg("-C")
        .arg(into)
        .status()
        .expect("tar");
    assert!(status.success());
    let mut crds = BTreeMap::new();
    let mut dirs = vec![into.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                let loaded =
                    load_text(&path.display().to_string(), &text, Limits::default()).unwrap();
                crds.extend(loaded.crds.into_iter().map(|c| (c.name.clone(), c)));
            }
        }
    }
    crds
}

#[test]
#[ignore = "unpacks and parses ~200 MB of YAML; run explicitly"]
fn predicts_the_upjet_aws_upgrade_quickly() {
    let old_dir = tempfile::tempdir().unwrap();
    let new_dir = tempfile::tempdir().unwrap();
    let installed = unpack("large/upjet-aws-v2.5.0.tar.xz", old_dir.path());
    let desired = unpack("large/upjet-aws-v2.6.0.tar.xz", new_dir.path());
    assert!(desired.len() > 2_000);

    let started = Instant::now();
    let mut objects = render_guard(&[]).unwrap();
    objects.extend(admission_objects("gateway-api/v1.6.1/extras-standard.yaml"));
    let evaluator = PolicyEvaluator::from_objects(&objects);
    let compiled = started.elapsed();

    let started = Instant::now();
    for crd in desired.values() {
        let prediction = evaluator.predict(installed.get(&crd.name), crd);
        assert_eq!(prediction, AdmissionPrediction::Allowed, "{}", crd.name);
    }
    let elapsed = started.elapsed();
    println!(
        "compiled 2 policies in {compiled:?}; predicted {} writes in {elapsed:?} ({:?} per write)",
        desired.len(),
        elapsed / desired.len() as u32
    );
}
