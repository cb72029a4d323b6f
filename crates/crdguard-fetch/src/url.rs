//! Which URLs may be fetched, and how a redirect's `Location` resolves.
//!
//! Release files are verified by digest, but a digest only protects the CRDs that the catalog
//! knows; TLS protects the rest of the exchange (and the user's privacy). Plain http is allowed
//! to loopback only, so tests and a local mirror can run a server without certificates. Every
//! hop of a redirect chain is checked again, so an https mirror cannot downgrade to http.

use std::net::IpAddr;

use ureq::http::Uri;

/// A URL that passed [`check`].
#[derive(Debug, Clone)]
pub(crate) struct CheckedUrl {
    pub uri: Uri,
    /// The host is a loopback address: no proxy is used for it.
    pub loopback: bool,
}

/// Accepts https URLs, and http URLs whose host is loopback (127.0.0.0/8, ::1, `localhost`).
/// Decided from the text alone, before any name resolution or connection.
pub(crate) fn check(url: &str) -> Result<CheckedUrl, String> {
    let uri: Uri = url.parse().map_err(|e| format!("not a valid URL ({e})"))?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err("not an absolute URL (expected https://HOST/PATH)".to_string());
    };
    // Credentials would end up in error messages and logs; mirrors needing them are out of scope.
    if authority.as_str().contains('@') {
        return Err("credentials in the URL are not supported".to_string());
    }
    let loopback = is_loopback_host(authority.host());
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(
                "plain http is allowed only to loopback addresses (127.0.0.0/8, ::1, \
                 localhost); use https"
                    .to_string(),
            );
        }
        other => return Err(format!("unsupported scheme {other:?}; use https")),
    }
    Ok(CheckedUrl { uri, loopback })
}

/// `localhost` or a loopback IP literal. Names that merely resolve to loopback
/// (`127.0.0.1.nip.io`) do not count: the decision must not depend on DNS.
fn is_loopback_host(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Resolves a redirect's `Location` against the URL that returned it (RFC 3986 §5, with the
/// `url` crate: absolute, scheme-relative, absolute-path and relative references, dot
/// segments included).
pub(crate) fn resolve_location(base: &Uri, location: &str) -> Result<String, String> {
    let location = location.trim();
    if location.is_empty() {
        return Err("redirect without a location".to_string());
    }
    let base = ::url::Url::parse(&base.to_string())
        .map_err(|e| format!("cannot resolve a redirect from {base} ({e})"))?;
    base.join(location)
        .map(String::from)
        .map_err(|e| format!("redirect to an invalid location {location:?} ({e})"))
}

/// The URL without its query: redirect targets such as signed download links carry tokens
/// there, which do not belong in messages.
pub(crate) fn without_query(url: &str) -> &str {
    url.split_once('?').map_or(url, |(head, _)| head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_to_loopback() {
        for ok in [
            "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.1/x.yaml",
            "https://192.0.2.1/x",
            "http://127.0.0.1:8080/x",
            "http://127.4.5.6/x",
            "http://[::1]:9000/x",
            "http://localhost/x",
            "HTTP://LOCALHOST:1/x",
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://192.0.2.1/x",
            "http://10.0.0.1/x",
            "http://example.com/x",
            "http://localhost.example.com/x",
            "http://127.0.0.1.nip.io/x",
            "http://[::ffff:192.0.2.1]/x",
            "ftp://127.0.0.1/x",
            "file:///etc/passwd",
            "https://user:secret@example.com/x",
            "/relative/path",
        ] {
            assert!(check(refused).is_err(), "{refused}");
        }
        assert!(check("http://127.0.0.1/x").unwrap().loopback);
        assert!(!check("https://github.com/x").unwrap().loopback);
    }

    #[test]
    fn locations_resolve_against_the_base() {
        let base: Uri = "https://host:8443/a/b/file.yaml?x=1".parse().unwrap();
        let resolve = |l: &str| resolve_location(&base, l).unwrap();
        assert_eq!(resolve("https://other/x"), "https://other/x");
        assert_eq!(resolve("http://other/x"), "http://other/x");
        assert_eq!(resolve("//cdn.example/y"), "https://cdn.example/y");
        assert_eq!(resolve("/root?sig=1"), "https://host:8443/root?sig=1");
        assert_eq!(resolve("c.yaml"), "https://host:8443/a/b/c.yaml");
        assert_eq!(resolve("../c.yaml"), "https://host:8443/a/c.yaml");
        assert_eq!(resolve("./d/../e.yaml?q"), "https://host:8443/a/b/e.yaml?q");
        assert!(resolve_location(&base, " ").is_err());
    }

    #[test]
    fn queries_are_left_out_of_messages() {
        assert_eq!(without_query("https://h/p?token=s"), "https://h/p");
        assert_eq!(without_query("https://h/p"), "https://h/p");
    }
}
