//! Building a client the way kubectl does: `--kubeconfig`, `$KUBECONFIG`, `~/.kube/config`,
//! `--context`, in-cluster config; exec credential plugins, client certificates and tokens come
//! from kube-rs. TLS verification stays on unless the kubeconfig itself turns it off.

use std::path::PathBuf;
use std::time::Duration;

use kube::Client;
use kube::config::{Config, KubeConfigOptions, Kubeconfig};

use crate::ClusterError;

#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// Timeout for connecting and for each request (not for watches).
    pub request_timeout: Option<Duration>,
    /// Requested by a signal handler: ends retries, waits and write loops early.
    pub stop: crate::StopSignal,
}

/// A connected cluster and what it says about itself.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) client: Client,
    pub(crate) server: String,
    /// `gitVersion` from `/version`, e.g. `v1.36.4`.
    pub server_version: String,
    /// Whether the kubeconfig disabled TLS verification (reported as a warning).
    pub insecure: bool,
    /// Checked by the write loops before each new write.
    pub(crate) stop: crate::StopSignal,
    /// The per-request (read) timeout; watches ask the server to end them before it.
    pub(crate) request_timeout: Duration,
    /// `sha256:<hex>` of the CA certificates the kubeconfig trusts for this server, if any.
    pub(crate) ca_digest: Option<String>,
}

impl Cluster {
    pub async fn connect(options: &ConnectOptions) -> Result<Cluster, ClusterError> {
        let mut config = load_config(options).await?;
        let timeout = options.request_timeout.unwrap_or(Duration::from_secs(30));
        config.connect_timeout = Some(timeout.min(Duration::from_secs(10)));
        config.read_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
        // kube's own retry layer (15 tries, backoff up to 1000 s) would multiply with ours and
        // park crdguard for many minutes on a dead server; `Cluster::send` retries, bounded.
        config.default_retry = false;
        let server = config.cluster_url.to_string();
        let insecure = config.accept_invalid_certs;
        let ca_digest = config.root_cert.as_ref().map(|certificates| {
            use sha2::{Digest as _, Sha256};
            let mut hasher = Sha256::new();
            for der in certificates {
                hasher.update(der);
            }
            let hex: String = hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("sha256:{hex}")
        });
        let client = Client::try_from(config)
            .map_err(|e| ClusterError::from_kube("create a client", &server, e))?;
        let mut cluster = Cluster {
            client,
            server: server.trim_end_matches('/').to_string(),
            server_version: String::new(),
            insecure,
            stop: options.stop.clone(),
            request_timeout: timeout,
            ca_digest,
        };
        // Through `send`, like every other request: retries honour Retry-After.
        let info = cluster
            .send(
                "read the server version",
                crate::request::get_path("/version"),
            )
            .await?;
        cluster.server_version = info["gitVersion"].as_str().unwrap_or_default().to_string();
        Ok(cluster)
    }

    /// The stop signal the write loops of this cluster check; a signal handler requests it.
    pub fn stop_signal(&self) -> crate::StopSignal {
        self.stop.clone()
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

async fn load_config(options: &ConnectOptions) -> Result<Config, ClusterError> {
    let kube_options = KubeConfigOptions {
        context: options.context.clone(),
        cluster: None,
        user: None,
    };
    let result = match &options.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| {
                ClusterError::Config(format!("{}: {}", path.display(), crate::error::chain(&e)))
            })?;
            Config::from_custom_kubeconfig(kubeconfig, &kube_options)
                .await
                .map_err(|e| crate::error::chain(&e))
        }
        None if options.context.is_some() => Config::from_kubeconfig(&kube_options)
            .await
            .map_err(|e| crate::error::chain(&e)),
        None => Config::infer().await.map_err(|e| crate::error::chain(&e)),
    };
    result.map_err(ClusterError::Config)
}
