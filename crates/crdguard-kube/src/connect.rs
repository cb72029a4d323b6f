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
}

impl Cluster {
    pub async fn connect(options: &ConnectOptions) -> Result<Cluster, ClusterError> {
        let mut config = load_config(options).await?;
        let timeout = options.request_timeout.unwrap_or(Duration::from_secs(30));
        config.connect_timeout = Some(timeout.min(Duration::from_secs(10)));
        config.read_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
        let server = config.cluster_url.to_string();
        let insecure = config.accept_invalid_certs;
        let client = Client::try_from(config)
            .map_err(|e| ClusterError::from_kube("create a client", &server, e))?;
        let info = crate::retry::with_retries(|| async {
            client
                .apiserver_version()
                .await
                .map_err(|e| ClusterError::from_kube("read the server version", &server, e))
        })
        .await?;
        Ok(Cluster {
            client,
            server: server.trim_end_matches('/').to_string(),
            server_version: info.git_version,
            insecure,
        })
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
