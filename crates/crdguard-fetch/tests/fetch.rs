//! `fetch_release` against a local stand-in for GitHub's release hosting that serves the
//! corpus (read in place): success, cache, offline, tampering, network faults, URL policy.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on unexpected input

mod support;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crdguard_catalog::Catalog;
use crdguard_core::Channel;
use crdguard_fetch::{ExitClass, FetchError, FetchOptions, TlsRoots, fetch_release};
use support::{Reply, TestServer, closed_port_url, corpus_file_for, corpus_text, options, tamper};

const V161_EXPERIMENTAL: &str = "gateway-api@v1.6.1/experimental";
const V161_EXPERIMENTAL_PATH: &str = "/v1.6.1/experimental-install.yaml";

/// The catalog's Gateway API releases, which the corpus served here holds.
fn gateway_api() -> &'static crdguard_catalog::BundleCatalog {
    Catalog::builtin().unwrap().bundle("gateway-api").unwrap()
}

fn temp_cache() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn cache_file(cache: &tempfile::TempDir, tag: &str, channel: &str) -> std::path::PathBuf {
    cache
        .path()
        .join("gateway-api")
        .join(tag)
        .join(format!("{channel}-install.yaml"))
}

/// Every file under the cache directory (to check that nothing was left behind).
fn cached_files(cache: &tempfile::TempDir) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(cache.path(), &mut out);
    out
}

#[test]
fn fetches_verifies_and_caches_a_release() {
    let server = TestServer::corpus();
    let cache = temp_cache();
    let fetched = fetch_release(V161_EXPERIMENTAL, &options(&server.base_url(), &cache)).unwrap();

    assert_eq!(fetched.label, V161_EXPERIMENTAL);
    assert_eq!(fetched.release.tag, "v1.6.1");
    assert_eq!(fetched.release.version.to_string(), "v1.6.1");
    assert_eq!(fetched.release.channel, Channel::Experimental);
    assert_eq!(fetched.crds.len(), 13);
    assert!(
        fetched
            .crds
            .iter()
            .all(|c| c.origin.source == V161_EXPERIMENTAL)
    );
    assert!(!fetched.from_cache);
    assert_eq!(
        fetched.url,
        format!("{}{V161_EXPERIMENTAL_PATH}", server.base_url())
    );
    // The as-published file carries the safe-upgrades policy: skipped, and said so.
    assert!(
        fetched
            .skipped
            .iter()
            .any(|s| s.starts_with("ValidatingAdmissionPolicy ")),
        "{:?}",
        fetched.skipped
    );
    assert!(fetched.warnings.is_empty(), "{:?}", fetched.warnings);
    assert_eq!(server.requests(), [V161_EXPERIMENTAL_PATH]);

    let cached = cache_file(&cache, "v1.6.1", "experimental");
    assert_eq!(fetched.cache_file.as_deref(), Some(cached.as_path()));
    assert_eq!(std::fs::read_to_string(&cached).unwrap(), fetched.text);
    assert_eq!(fetched.text, corpus_text("v1.6.1", "experimental"));
    assert_eq!(cached_files(&cache), [cached]);

    let loaded = fetched.into_loaded();
    assert_eq!(loaded.crds.len(), 13);
    assert!(loaded.others.is_empty());
}

#[test]
fn a_cached_release_is_served_offline_with_the_server_gone() {
    let server = TestServer::corpus();
    let base = server.base_url();
    let cache = temp_cache();
    fetch_release(V161_EXPERIMENTAL, &options(&base, &cache)).unwrap();
    server.stop();

    let offline = FetchOptions {
        offline: true,
        ..options(&base, &cache)
    };
    let fetched = fetch_release(V161_EXPERIMENTAL, &offline).unwrap();
    assert!(fetched.from_cache);
    assert_eq!(fetched.crds.len(), 13);

    // Online too: a valid cache means no network call at all (the server is gone).
    let fetched = fetch_release(V161_EXPERIMENTAL, &options(&base, &cache)).unwrap();
    assert!(fetched.from_cache);
}

#[test]
fn a_cache_hit_makes_no_request() {
    let server = TestServer::corpus();
    let cache = temp_cache();
    let options = options(&server.base_url(), &cache);
    assert!(
        !fetch_release(V161_EXPERIMENTAL, &options)
            .unwrap()
            .from_cache
    );
    assert!(
        fetch_release(V161_EXPERIMENTAL, &options)
            .unwrap()
            .from_cache
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_tampered_file_is_rejected_naming_the_crd_and_both_digests() {
    let crd = "httproutes.gateway.networking.k8s.io";
    let tampered = tamper(&corpus_text("v1.6.1", "experimental"), crd);
    let server = TestServer::start(move |_| Reply::ok(tampered.clone().into_bytes()));
    let cache = temp_cache();
    let err = fetch_release(V161_EXPERIMENTAL, &options(&server.base_url(), &cache)).unwrap_err();

    let expected = gateway_api()
        .release("v1.6.1", Channel::Experimental)
        .unwrap()
        .crd(crd)
        .unwrap()
        .digest
        .clone();
    let FetchError::DigestMismatch { mismatch, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(mismatch.crd, crd);
    assert_eq!(mismatch.expected.as_deref(), Some(expected.as_str()));
    let actual = mismatch.actual.clone().unwrap();
    assert_ne!(actual, expected);
    let message = err.to_string();
    for part in [
        V161_EXPERIMENTAL,
        crd,
        &expected,
        &actual,
        &server.base_url(),
    ] {
        assert!(message.contains(part), "{message} lacks {part}");
    }
    assert!(!message.contains('\n'));
    assert_eq!(err.exit_class(), ExitClass::BadInput);
    assert!(cached_files(&cache).is_empty(), "nothing may be cached");
}

#[test]
fn a_corrupt_cache_file_is_discarded_and_fetched_again() {
    let server = TestServer::corpus();
    let cache = temp_cache();
    let cached = cache_file(&cache, "v1.6.1", "experimental");
    std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
    let original = corpus_text("v1.6.1", "experimental");
    std::fs::write(
        &cached,
        tamper(&original, "gateways.gateway.networking.k8s.io"),
    )
    .unwrap();

    let fetched = fetch_release(V161_EXPERIMENTAL, &options(&server.base_url(), &cache)).unwrap();
    assert!(!fetched.from_cache);
    assert_eq!(server.requests().len(), 1);
    assert!(
        fetched
            .warnings
            .iter()
            .any(|w| w.contains("failed verification")),
        "{:?}",
        fetched.warnings
    );
    assert_eq!(std::fs::read_to_string(&cached).unwrap(), original);
}

#[test]
fn a_corrupt_cache_file_offline_is_an_error_and_removed() {
    let cache = temp_cache();
    let cached = cache_file(&cache, "v1.6.1", "experimental");
    std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
    std::fs::write(&cached, "truncated: [").unwrap();
    let offline = FetchOptions {
        offline: true,
        ..options(&closed_port_url(), &cache)
    };
    let err = fetch_release(V161_EXPERIMENTAL, &offline).unwrap_err();
    assert!(matches!(err, FetchError::CorruptCache { .. }), "{err:?}");
    assert!(err.to_string().contains("offline"), "{err}");
    assert_eq!(err.exit_class(), ExitClass::Unavailable);
    assert!(!cached.exists());
}

#[test]
fn offline_without_a_cached_copy_is_an_error_without_network() {
    let server = TestServer::corpus();
    let cache = temp_cache();
    let offline = FetchOptions {
        offline: true,
        ..options(&server.base_url(), &cache)
    };
    let err = fetch_release(V161_EXPERIMENTAL, &offline).unwrap_err();
    assert!(matches!(err, FetchError::NotCached { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("offline"), "{message}");
    assert!(message.contains(V161_EXPERIMENTAL), "{message}");
    assert_eq!(err.exit_class(), ExitClass::Unavailable);
    assert!(server.requests().is_empty());
}

#[test]
fn a_server_that_is_down_is_a_network_error_after_bounded_retries() {
    let cache = temp_cache();
    let base = closed_port_url();
    let err = fetch_release(V161_EXPERIMENTAL, &options(&base, &cache)).unwrap_err();
    let FetchError::Network { attempts, url, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*attempts, 3);
    assert_eq!(url, &format!("{base}{V161_EXPERIMENTAL_PATH}"));
    let message = err.to_string();
    assert!(message.contains("connection refused"), "{message}");
    assert!(message.contains(V161_EXPERIMENTAL), "{message}");
    assert_eq!(err.exit_class(), ExitClass::Unavailable);
    assert_eq!(err.exit_class().code(), 3);
    assert!(cached_files(&cache).is_empty());
}

#[test]
fn not_found_is_an_http_error_without_retries() {
    let server = TestServer::start(|_| Reply::status(404));
    let cache = temp_cache();
    let err = fetch_release(V161_EXPERIMENTAL, &options(&server.base_url(), &cache)).unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Http {
                status: 404,
                attempts: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("HTTP 404"), "{message}");
    assert!(message.contains(&server.base_url()), "{message}");
    assert!(!message.contains("status 404\n"), "no body in messages");
    assert_eq!(err.exit_class(), ExitClass::Unavailable);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn server_errors_are_retried_at_most_three_times() {
    let server = TestServer::start(|_| Reply::status(503));
    let cache = temp_cache();
    let err = fetch_release(V161_EXPERIMENTAL, &options(&server.base_url(), &cache)).unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Http {
                status: 503,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("after 3 attempts"), "{err}");
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn a_transient_server_error_is_retried_to_success() {
    let calls = Arc::new(AtomicUsize::new(0));
    let server = {
        let calls = Arc::clone(&calls);
        TestServer::start(move |path| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Reply::status(502)
            } else {
                Reply::ok(std::fs::read(corpus_file_for(path).unwrap()).unwrap())
            }
        })
    };
    let cache = temp_cache();
    let fetched = fetch_release(V161_EXPERIMENTAL, &options(&server.base_url(), &cache)).unwrap();
    assert_eq!(fetched.crds.len(), 13);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_server_that_stalls_runs_into_the_overall_time_limit() {
    let server = TestServer::start(|_| {
        std::thread::sleep(Duration::from_secs(2));
        Reply::status(503)
    });
    let cache = temp_cache();
    let impatient = FetchOptions {
        total_timeout: Duration::from_millis(500),
        ..options(&server.base_url(), &cache)
    };
    let started = Instant::now();
    let err = fetch_release(V161_EXPERIMENTAL, &impatient).unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(1500));
    let FetchError::Network {
        attempts, message, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*attempts, 1);
    assert!(message.contains("timed out"), "{message}");
    assert_eq!(err.exit_class(), ExitClass::Unavailable);
}

#[test]
fn an_oversized_response_is_refused() {
    let server = TestServer::corpus();
    let cache = temp_cache();
    let small = FetchOptions {
        max_bytes: 1024 * 1024,
        ..options(&server.base_url(), &cache)
    };
    let err = fetch_release(V161_EXPERIMENTAL, &small).unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit: 1048576, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("larger than the limit"), "{err}");
    assert!(cached_files(&cache).is_empty());
}

#[test]
fn an_oversized_response_without_a_length_is_cut_off() {
    let server = TestServer::start(|_| Reply {
        content_length: false,
        ..Reply::ok(vec![b'#'; 3 * 1024 * 1024])
    });
    let cache = temp_cache();
    let small = FetchOptions {
        max_bytes: 1024 * 1024,
        ..options(&server.base_url(), &cache)
    };
    let err = fetch_release(V161_EXPERIMENTAL, &small).unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err:?}");
}

#[test]
fn plain_http_to_a_non_loopback_host_is_refused_before_connecting() {
    let cache = temp_cache();
    // TEST-NET-1 (RFC 5737): nothing answers there, so a connection attempt would hang until
    // the connect timeout; the refusal must come first, at once.
    let started = Instant::now();
    let err = fetch_release(V161_EXPERIMENTAL, &options("http://192.0.2.1", &cache)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    let FetchError::InsecureUrl { url, reason, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(url, "http://192.0.2.1/v1.6.1/experimental-install.yaml");
    assert!(reason.contains("loopback"), "{reason}");
    assert_eq!(err.exit_class(), ExitClass::BadInput);
}

#[test]
fn a_redirect_to_plain_http_elsewhere_is_refused() {
    let server =
        TestServer::start(|path| Reply::redirect(&format!("http://192.0.2.1{path}?sig=secret")));
    let cache = temp_cache();
    let started = Instant::now();
    let err = fetch_release(V161_EXPERIMENTAL, &options(&server.base_url(), &cache)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(matches!(err, FetchError::InsecureUrl { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("redirect to http://192.0.2.1/"),
        "{message}"
    );
    assert!(!message.contains("secret"), "{message}");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn redirects_within_policy_are_followed() {
    let server = TestServer::start(|path| match path.strip_prefix("/storage") {
        Some(file) => Reply::ok(std::fs::read(corpus_file_for(file).unwrap()).unwrap()),
        None => Reply::redirect(&format!("/storage{path}")),
    });
    let cache = temp_cache();
    let fetched = fetch_release(V161_EXPERIMENTAL, &options(&server.base_url(), &cache)).unwrap();
    assert_eq!(fetched.crds.len(), 13);
    assert_eq!(
        server.requests(),
        [
            V161_EXPERIMENTAL_PATH.to_string(),
            format!("/storage{V161_EXPERIMENTAL_PATH}")
        ]
    );
}

#[test]
fn content_that_is_not_yaml_is_bad_input() {
    let server = TestServer::start(|_| Reply::ok(b"<html>\n  rate limited: [\n".to_vec()));
    let cache = temp_cache();
    let err = fetch_release(V161_EXPERIMENTAL, &options(&server.base_url(), &cache)).unwrap_err();
    assert!(matches!(err, FetchError::InvalidContent { .. }), "{err:?}");
    assert!(!err.to_string().contains("rate limited"), "{err}");
    assert_eq!(err.exit_class(), ExitClass::BadInput);
    assert!(cached_files(&cache).is_empty());
}

#[test]
fn bad_references_are_bad_input_and_touch_no_network() {
    let server = TestServer::corpus();
    let cache = temp_cache();
    let options = options(&server.base_url(), &cache);
    for reference in [
        "gateway-api@v9.9.9",
        "nope@v1.0.0",
        "gateway-api@v1.6.1/beta",
        "gateway-api@",
        "gateway-api",
    ] {
        let err = fetch_release(reference, &options).unwrap_err();
        assert_eq!(err.exit_class(), ExitClass::BadInput, "{reference}: {err}");
        assert_eq!(err.exit_class().code(), 2);
        assert!(!err.to_string().contains('\n'));
    }
    let err = fetch_release("gateway-api@v9.9.9", &options).unwrap_err();
    assert!(
        err.to_string()
            .contains("closest: gateway-api@v1.6.1/standard"),
        "{err}"
    );
    let err = fetch_release("nope@v1.0.0", &options).unwrap_err();
    assert!(err.to_string().contains("known: gateway-api"), "{err}");
    let err = fetch_release("gateway-api@v1.6.1/beta", &options).unwrap_err();
    assert!(matches!(err, FetchError::BadReference { .. }), "{err:?}");
    assert!(server.requests().is_empty());
}

#[test]
fn a_monthly_build_is_fetched_by_tag() {
    let server = TestServer::corpus();
    let cache = temp_cache();
    let fetched = fetch_release(
        "gateway-api@monthly-2026.06/experimental",
        &options(&server.base_url(), &cache),
    )
    .unwrap();
    assert_eq!(fetched.release.tag, "monthly-2026.06");
    assert_eq!(fetched.crds.len(), 13);
    assert_eq!(
        server.requests(),
        ["/monthly-2026.06/experimental-install.yaml"]
    );
    assert!(cache_file(&cache, "monthly-2026.06", "experimental").is_file());
}

#[test]
fn a_version_without_v_defaults_to_the_standard_channel() {
    let server = TestServer::corpus();
    let cache = temp_cache();
    let fetched = fetch_release("gateway-api@1.6.1", &options(&server.base_url(), &cache)).unwrap();
    assert_eq!(fetched.label, "gateway-api@v1.6.1/standard");
    assert_eq!(fetched.crds.len(), 10);
    assert_eq!(server.requests(), ["/v1.6.1/standard-install.yaml"]);
}

#[test]
fn an_unwritable_cache_is_a_warning_not_a_failure() {
    let server = TestServer::corpus();
    let cache = temp_cache();
    // The cache "directory" is a file: nothing can be created under it.
    let blocker = cache.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let options = FetchOptions {
        cache_dir: Some(blocker),
        ..options(&server.base_url(), &cache)
    };
    let fetched = fetch_release(V161_EXPERIMENTAL, &options).unwrap();
    assert_eq!(fetched.crds.len(), 13);
    assert!(
        fetched
            .warnings
            .iter()
            .any(|w| w.contains("could not cache")),
        "{:?}",
        fetched.warnings
    );
}

/// Every release of the catalog, as published (webhook Deployments, policies and all), passes
/// verification: what upstream serves is what the catalog expects.
#[test]
fn every_release_in_the_catalog_verifies_as_published() {
    let server = TestServer::corpus();
    let cache = temp_cache();
    let options = options(&server.base_url(), &cache);
    for release in gateway_api().releases() {
        let fetched = crdguard_fetch::fetch(release, &options)
            .unwrap_or_else(|e| panic!("{}: {e}", release.label()));
        assert_eq!(
            fetched.crds.len(),
            release.crds.len(),
            "{}",
            release.label()
        );
    }
    assert_eq!(server.requests().len(), gateway_api().releases().len());
}

/// https is verified: a server that answers a TLS handshake with plain text is a network
/// failure, reported once (not retried: retrying cannot fix TLS), with either trust store.
#[test]
fn https_to_a_server_without_tls_fails_without_retries() {
    for roots in [TlsRoots::Bundled, TlsRoots::System] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("https://{}", listener.local_addr().unwrap());
        // Answers one connection with plain HTTP; a retry would find nothing listening.
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
        });
        let cache = temp_cache();
        let options = FetchOptions {
            tls_roots: roots,
            ..options(&base, &cache)
        };
        let err = fetch_release(V161_EXPERIMENTAL, &options).unwrap_err();
        let FetchError::Network { attempts, .. } = &err else {
            panic!("{roots:?}: {err:?}")
        };
        assert_eq!(*attempts, 1, "{err}");
        assert_eq!(err.exit_class(), ExitClass::Unavailable);
        assert!(cached_files(&cache).is_empty());
        assert!(err.to_string().contains("TLS"), "{err}");
        server.join().unwrap();
    }
}

/// A bundle whose catalog data names no published file (prometheus-operator ships its CRDs
/// only inside larger files) resolves, but is never downloaded: the error says to give the
/// files, and no request is made. An unknown bundle lists the bundles there are.
#[test]
fn a_release_without_a_published_file_is_refused_before_any_request() {
    let server = TestServer::corpus();
    let cache = temp_cache();
    let options = options(&server.base_url(), &cache);
    let err = crdguard_fetch::fetch_release("prometheus-operator@0.93.0", &options).unwrap_err();
    assert_eq!(err.exit_class(), crdguard_fetch::ExitClass::BadInput);
    let message = err.to_string();
    assert!(
        message.contains("prometheus-operator@v0.93.0") && message.contains("as sources instead"),
        "{message}"
    );
    assert!(server.requests().is_empty());
    let err = crdguard_fetch::fetch_release("promethues-operator@v0.93.0", &options).unwrap_err();
    assert!(
        err.to_string()
            .contains("known: gateway-api, prometheus-operator"),
        "{err}"
    );
}
