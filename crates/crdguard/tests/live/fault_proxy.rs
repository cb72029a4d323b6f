//! A fault-injecting HTTPS proxy in front of the real CRD server.
//!
//! crdguard talks to the proxy as to any cluster: TLS with a test CA generated here (so the
//! client's certificate verification stays on), HTTP/1.1. The proxy forwards every request to
//! the real apiextensions-apiserver with the server's admin client certificate, and on the way
//! injects the fault it is told to: a connection reset after N bytes of a response, delays, 429
//! with `Retry-After`, 500/503, a 409 on the Nth write, a watch stream cut off. Every request is
//! recorded, with the fault it got, so tests can assert what the client did about it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Faults one request may get before its retries are let through (crdguard tries 5 times).
const MAX_FAULTS_PER_REQUEST: usize = 2;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ProxyBody = BoxBody<Bytes, BoxError>;

/// What the proxy does to the traffic. `every: n` means the n-th, 2n-th, … request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Forward everything untouched.
    Pass,
    /// Cut the connection (TCP reset) after `bytes` bytes of the response body.
    ResetAfterBytes { every: usize, bytes: usize },
    /// Hold the response back for `delay`.
    Delay { every: usize, delay: Duration },
    /// Answer 429 with `Retry-After: seconds`, as API priority and fairness does.
    TooManyRequests { every: usize, seconds: u64 },
    /// Answer `code` (500, 503) with a Status body.
    ServerError { every: usize, code: u16 },
    /// Answer 409 to the n-th write (PATCH/PUT/POST) only. `field_manager`: the conflict
    /// server-side apply reports for fields owned by another manager; otherwise an optimistic
    /// concurrency conflict ("the object has been modified").
    ConflictOnWrite { nth: usize, field_manager: bool },
    /// Cut every watch stream off `after` it started.
    DropWatch { after: Duration },
    /// Every request answered 503: the cluster is down for good.
    Unavailable,
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Record {
    pub at: Instant,
    pub method: String,
    pub path: String,
    /// crdguard's id of the logical request (`x-crdguard-request`) and which attempt of it this
    /// is (`x-crdguard-attempt`): a retry has the id of the request it repeats.
    pub request_id: Option<String>,
    pub attempt: Option<u32>,
    /// The fault injected into this request, if any ("429", "reset", "delay", …).
    pub injected: Option<String>,
}

struct State {
    fault: Mutex<Fault>,
    requests: AtomicUsize,
    writes: AtomicUsize,
    log: Mutex<Vec<Record>>,
    /// Faults injected per request (method and path), so the retries of one request are not
    /// all hit: a transient fault must be able to pass.
    per_request: Mutex<std::collections::HashMap<String, usize>>,
    upstream: String,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, ProxyBody>,
}

pub struct FaultProxy {
    pub url: String,
    /// PEM of the CA that signed the proxy's serving certificate.
    pub ca_pem: String,
    state: Arc<State>,
}

/// The real server behind the proxy: its URL, CA and admin client certificate (PEM).
pub struct Upstream {
    pub url: String,
    pub ca_pem: Vec<u8>,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl FaultProxy {
    /// Starts the proxy on a free loopback port, serving on `runtime`.
    pub fn start(runtime: &tokio::runtime::Runtime, upstream: Upstream) -> FaultProxy {
        let (server_config, ca_pem) = serving_tls();
        let client = upstream_client(&upstream);
        let state = Arc::new(State {
            fault: Mutex::new(Fault::Pass),
            requests: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
            per_request: Mutex::new(std::collections::HashMap::new()),
            upstream: upstream.url.trim_end_matches('/').to_string(),
            client,
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
        let serving = state.clone();
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                // Linger 0: closing a connection mid-response sends a TCP reset, not a FIN.
                // (Deprecated because a non-zero linger blocks on drop; zero never does.)
                #[allow(deprecated)]
                let _ = tcp.set_linger(Some(Duration::ZERO));
                let acceptor = acceptor.clone();
                let state = serving.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(state, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        FaultProxy {
            url: format!("https://{address}"),
            ca_pem,
            state,
        }
    }

    /// Sets the fault for the following requests and clears the counters and the log.
    pub fn set(&self, fault: Fault) {
        *self.state.fault.lock().unwrap() = fault;
        self.state.requests.store(0, Ordering::SeqCst);
        self.state.writes.store(0, Ordering::SeqCst);
        self.state.log.lock().unwrap().clear();
        self.state.per_request.lock().unwrap().clear();
    }

    pub fn log(&self) -> Vec<Record> {
        self.state.log.lock().unwrap().clone()
    }

    /// How many requests got a fault.
    pub fn injected(&self) -> usize {
        self.log().iter().filter(|r| r.injected.is_some()).count()
    }

    /// A kubeconfig for crdguard that points at the proxy and trusts its CA.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: faulty\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: faulty\n  user: {{}}\ncontexts:\n- name: faulty\n  context: {{cluster: faulty, user: faulty}}\ncurrent-context: faulty\n",
            self.url,
            super::base64(self.ca_pem.as_bytes())
        )
    }
}

async fn handle(state: Arc<State>, request: Request<Incoming>) -> Response<ProxyBody> {
    let number = state.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let method = request.method().clone();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let is_write = matches!(
        method,
        hyper::Method::PATCH | hyper::Method::PUT | hyper::Method::POST
    );
    let write_number = if is_write {
        state.writes.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        0
    };
    let is_watch = path.contains("watch=true") || path.contains("watch=1");
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let request_id = header("x-crdguard-request");
    let attempt = header("x-crdguard-attempt").and_then(|a| a.parse().ok());
    let fault = state.fault.lock().unwrap().clone();
    // The n-th requests are hit, but one request at most twice in a row (its retries pass).
    let hit = |every: usize| {
        if every == 0 || !number.is_multiple_of(every) {
            return false;
        }
        let mut per_request = state.per_request.lock().unwrap();
        let key = match &request_id {
            Some(id) => id.clone(),
            None => format!("{method} {path}"),
        };
        let count = per_request.entry(key).or_default();
        *count += 1;
        *count <= MAX_FAULTS_PER_REQUEST
    };
    let mut record = Record {
        at: Instant::now(),
        method: method.to_string(),
        path: path.clone(),
        request_id: request_id.clone(),
        attempt,
        injected: None,
    };

    let answer = match &fault {
        Fault::TooManyRequests { every, seconds } if hit(*every) => {
            record.injected = Some("429".into());
            let mut response = plain(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests, please try again later.\n",
            );
            response
                .headers_mut()
                .insert("retry-after", seconds.to_string().parse().unwrap());
            Some(response)
        }
        Fault::ServerError { every, code } if hit(*every) => {
            record.injected = Some(code.to_string());
            Some(status(*code, "InternalError", "injected server error"))
        }
        Fault::Unavailable => {
            record.injected = Some("503".into());
            Some(status(
                503,
                "ServiceUnavailable",
                "injected: the server is down",
            ))
        }
        Fault::ConflictOnWrite { nth, field_manager } if is_write && write_number == *nth => {
            record.injected = Some("409".into());
            let message = if *field_manager {
                "Apply failed with 1 conflict: conflict with \"helm\" using apiextensions.k8s.io/v1: .spec.versions".to_string()
            } else {
                "Operation cannot be fulfilled on customresourcedefinitions.apiextensions.k8s.io: the object has been modified; please apply your changes to the latest version and try again".to_string()
            };
            Some(status(409, "Conflict", &message))
        }
        _ => None,
    };
    if let Some(response) = answer {
        // Drain the request body so the connection stays usable for the next request.
        let _ = request.into_body().collect().await;
        state.log.lock().unwrap().push(record);
        return response;
    }

    let delay = match &fault {
        Fault::Delay { every, delay } if hit(*every) => {
            record.injected = Some("delay".into());
            Some(*delay)
        }
        _ => None,
    };
    let cut_after = match &fault {
        Fault::ResetAfterBytes { every, bytes } if hit(*every) => Some(*bytes),
        _ => None,
    };
    let watch_deadline = match &fault {
        Fault::DropWatch { after } if is_watch => {
            record.injected = Some("watch-drop".into());
            Some(*after)
        }
        _ => None,
    };
    // Recorded when it arrives; a reset is marked by the body when it really cuts.
    let index = {
        let mut log = state.log.lock().unwrap();
        log.push(record);
        log.len() - 1
    };
    // After recording: a client that gives up closes the connection, which ends this future.
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }

    let (mut parts, body) = request.into_parts();
    parts.uri = format!("{}{}", state.upstream, path).parse().unwrap();
    // Upstream authenticates the proxy by its client certificate; a bearer token would be 401.
    parts.headers.remove(hyper::header::AUTHORIZATION);
    parts.headers.remove(hyper::header::HOST);
    let forwarded = Request::from_parts(parts, body.map_err(|e| Box::new(e) as BoxError).boxed());
    let response = match state.client.request(forwarded).await {
        Ok(response) => response,
        Err(e) => return status(502, "BadGateway", &format!("proxy: {e}")),
    };
    let (parts, body) = response.into_parts();
    let stream = body
        .into_data_stream()
        .map(|r| r.map_err(|e| Box::new(e) as BoxError));
    let body: ProxyBody = if let Some(limit) = cut_after {
        let on_cut = move || {
            if let Some(record) = state.log.lock().unwrap().get_mut(index) {
                record.injected = Some("reset".into());
            }
        };
        BodyExt::boxed(StreamBody::new(
            cut_off_after(stream, limit, on_cut).map(|r| r.map(Frame::data)),
        ))
    } else if let Some(after) = watch_deadline {
        let cut = stream
            .take_until(tokio::time::sleep(after))
            .chain(futures::stream::once(async {
                Err::<Bytes, BoxError>("injected: watch stream dropped".into())
            }));
        BodyExt::boxed(StreamBody::new(cut.map(|r| r.map(Frame::data))))
    } else {
        BodyExt::boxed(StreamBody::new(stream.map(|r| r.map(Frame::data))))
    };
    Response::from_parts(parts, body)
}

/// Passes `limit` bytes of the stream, then fails it and ends: hyper then drops the
/// connection, which (with linger 0) the client sees as a reset in the middle of the response.
fn cut_off_after(
    stream: impl futures::Stream<Item = Result<Bytes, BoxError>> + Send + Sync + 'static,
    limit: usize,
    on_cut: impl Fn() + Send + Sync + 'static,
) -> impl futures::Stream<Item = Result<Bytes, BoxError>> + Send + Sync + 'static {
    stream
        .scan(Some(0usize), move |state, chunk| {
            let Some(sent) = *state else {
                return futures::future::ready(None);
            };
            let items: Vec<Result<Bytes, BoxError>> = match chunk {
                Ok(bytes) if sent + bytes.len() > limit => {
                    *state = None;
                    on_cut();
                    vec![
                        Ok(bytes.slice(..limit - sent)),
                        Err("injected: connection reset".into()),
                    ]
                }
                Ok(bytes) => {
                    *state = Some(sent + bytes.len());
                    vec![Ok(bytes)]
                }
                Err(e) => vec![Err(e)],
            };
            futures::future::ready(Some(futures::stream::iter(items)))
        })
        .flatten()
}

fn plain(code: StatusCode, text: &str) -> Response<ProxyBody> {
    let mut response = Response::new(full(text.as_bytes().to_vec()));
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert("content-type", "text/plain; charset=utf-8".parse().unwrap());
    response
}

fn status(code: u16, reason: &str, message: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    let mut response = Response::new(full(serde_json::to_vec(&body).unwrap()));
    *response.status_mut() = StatusCode::from_u16(code).unwrap();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

fn full(bytes: Vec<u8>) -> ProxyBody {
    Full::new(Bytes::from(bytes))
        .map_err(|never| match never {})
        .boxed()
}

/// A fresh CA and a serving certificate for 127.0.0.1 signed by it.
fn serving_tls() -> (rustls::ServerConfig, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "crdguard fault-proxy test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (config, ca.as_ref().pem())
}

/// An HTTPS client that trusts the real server's CA and presents its admin certificate.
fn upstream_client(
    upstream: &Upstream,
) -> Client<hyper_rustls::HttpsConnector<HttpConnector>, ProxyBody> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&upstream.ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&upstream.cert_pem)
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_slice(&upstream.key_pem).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(connector)
}
