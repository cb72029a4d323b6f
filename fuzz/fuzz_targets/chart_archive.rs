//! The chart archive reader on arbitrary bytes (gzip, tar, nested .tgz, links, traversal
//! paths), then the loader on every CRD file it yields: an error or a chart, never a panic,
//! never unbounded memory (the limits below are what the fuzzer may use).
#![no_main]

use crdguard_core::yaml::Limits;
use crdguard_sources::{Chart, ReadLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = ReadLimits {
        max_file_bytes: 4 * 1024 * 1024,
        max_archive_bytes: 16 * 1024 * 1024,
    };
    let Ok(chart) = Chart::from_archive("fuzz.tgz", data, limits) else {
        return;
    };
    for file in &chart.crd_files {
        let _ = crdguard_core::load::load_text(
            &file.name,
            &file.text,
            Limits {
                max_document_bytes: 1024 * 1024,
            },
        );
    }
    if let Some(policy) = &chart.policy_file {
        let _ = crdguard_core::policy::Policy::from_yaml(&policy.name, &policy.text);
    }
});
