//! The policy parser (SPEC §4) on arbitrary text: a `Policy` or an `InputError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(policy) = crdguard_core::policy::Policy::from_yaml("fuzz-policy.yaml", text) {
        let _ = policy.kubernetes_minimum();
        for bundle in &policy.spec.bundles {
            let _ = policy.bundle(&bundle.name);
        }
    }
});
