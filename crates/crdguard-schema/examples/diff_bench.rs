//! Times loading and diffing two CRD sets, e.g. the upjet-aws upgrade:
//!
//! ```text
//! cargo run --release -p crdguard-schema --example diff_bench -- OLD NEW [--findings] [--runs N]
//! ```
//!
//! OLD and NEW are directories (searched recursively for `*.yaml` / `*.yml` / `*.json`) or
//! single files; multi-document YAML is split. Loading is parallel over files. `--findings`
//! prints every finding; `--runs N` repeats the diff N times and prints the median.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Deserialize;
use serde_json::Value;

fn main() {
    let mut paths = Vec::new();
    let mut print_findings = false;
    let mut runs = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--findings" => print_findings = true,
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).unwrap_or(3).max(1),
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    let [old_path, new_path] = paths.as_slice() else {
        eprintln!("usage: diff_bench OLD NEW [--findings] [--runs N]");
        std::process::exit(2);
    };

    let started = Instant::now();
    let old = load(old_path);
    let new = load(new_path);
    let load_time = started.elapsed();
    println!(
        "loaded {} + {} CRDs in {:.2?}",
        old.len(),
        new.len(),
        load_time
    );

    let mut times: Vec<Duration> = Vec::new();
    let mut diff = None;
    for _ in 0..runs {
        let started = Instant::now();
        let result = crdguard_schema::diff_sets(&old, &new);
        times.push(started.elapsed());
        diff = Some(result);
    }
    times.sort();
    let Some(diff) = diff else { return };
    println!(
        "diff: median {:.2?} of {} runs (min {:.2?}, max {:.2?})",
        times[times.len() / 2],
        runs,
        times[0],
        times[times.len() - 1]
    );
    let changed = diff.items.iter().filter(|i| !i.findings.is_empty()).count();
    println!(
        "{} CRDs, {} with findings; errors {}, warnings {}, infos {}",
        diff.items.len(),
        changed,
        diff.summary.error,
        diff.summary.warning,
        diff.summary.info
    );
    for (check, severity, count) in diff.counts_by_check().into_iter().take(15) {
        println!("  {count:>7}  {severity:<7}  {check}");
    }
    if print_findings {
        for (crd, f) in diff.findings() {
            println!(
                "{crd} {} {} {} {}: {}",
                f.severity, f.check, f.version, f.path, f.message
            );
        }
    }
}

fn load(path: &Path) -> Vec<Value> {
    let mut files = Vec::new();
    collect(path, &mut files);
    files.sort();
    files
        .par_iter()
        .flat_map_iter(|file| {
            let text = std::fs::read_to_string(file).unwrap_or_else(|e| {
                eprintln!("{}: {e}", file.display());
                std::process::exit(2)
            });
            parse(&text, file)
        })
        .collect()
}

fn parse(text: &str, file: &Path) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .filter_map(|doc| match Value::deserialize(doc) {
            Ok(Value::Null) => None,
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                None
            }
        })
        .collect()
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        for entry in entries.flatten() {
            collect(&entry.path(), out);
        }
    } else if path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
    {
        out.push(path.to_path_buf());
    }
}
