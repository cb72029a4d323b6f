//! The loader on arbitrary text: YAML streams, JSON, `List` objects, CRDs with anything in them.
//! It must return a CRD set or an `InputError`, never panic, never hang, never blow up memory.
#![no_main]

use crdguard_core::yaml::Limits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The CLI refuses non-UTF-8 before the loader sees it (its own regression tests cover that).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits {
        max_document_bytes: 1024 * 1024,
    };
    if let Ok(loaded) = crdguard_core::load::load_text("fuzz.yaml", text, limits) {
        // Whatever loads must be usable by the rest of the core without panicking.
        for crd in &loaded.crds {
            let _ = crd.storage_version();
            let _ = crd.served_versions().count();
        }
    }
});
