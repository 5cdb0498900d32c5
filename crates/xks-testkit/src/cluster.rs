//! The whole system in this process on loopback, started from a [`Layout`]:
//! share services (the real service, port 0, then pinned so that a restart
//! keeps its address) and the XKS proxy. Feature `services`.

use std::net::SocketAddr;
use std::path::Path;

use xks_config::{proxy, share};

use crate::layout::{Front, Layout};

/// A share service of the cluster.
pub struct ShareNode {
    /// Its holder id.
    pub holder: u32,
    /// Its configuration as written.
    pub config: share::Config,
    /// The running service (`None` while stopped).
    pub running: Option<share_service::Running>,
    /// Where it listens (kept across restarts).
    pub addr: SocketAddr,
}

/// Share services and (once started) the proxy.
pub struct Cluster {
    /// The files and material.
    pub layout: Layout,
    /// The share services, in the order started.
    pub nodes: Vec<ShareNode>,
    /// The proxy, once [`Cluster::start_proxy`] ran.
    pub proxy: Option<xks_proxy::Running>,
}

impl Cluster {
    /// Starts share services `holders`, each with the layout's configuration
    /// changed by `edit`.
    ///
    /// # Panics
    /// When a service does not start (the test cannot go on).
    pub async fn start_shares(layout: Layout, holders: &[u32], edit: impl Fn(&mut share::Config)) -> Self {
        let mut nodes = Vec::new();
        for &holder in holders {
            let mut config = layout.share_service(holder, SocketAddr::from(([127, 0, 0, 1], 0)));
            edit(&mut config);
            let running = start_share_service(&layout.write_share_config(holder, &config)).await;
            config.listen = running.addr;
            layout.write_share_config(holder, &config);
            nodes.push(ShareNode { holder, addr: running.addr, config, running: Some(running) });
        }
        Self { layout, nodes, proxy: None }
    }

    /// The proxy's configuration for the share services as they are now
    /// (their addresses may have been redirected, e.g. through a relay).
    pub fn proxy_config(&self, front: Front) -> proxy::Config {
        let partners: Vec<(u32, SocketAddr)> = self.nodes.iter().map(|n| (n.holder, n.addr)).collect();
        self.layout.proxy(front, &partners)
    }

    /// Writes `config` and starts the proxy with it (stopping a running one first).
    ///
    /// # Panics
    /// When the proxy does not start.
    pub async fn start_proxy(&mut self, config: &proxy::Config) {
        if let Some(running) = self.proxy.take() {
            running.shutdown().await;
        }
        self.proxy = Some(start_proxy(&self.layout.write_proxy_config(config)).await);
    }

    /// The running proxy.
    ///
    /// # Panics
    /// Before [`Cluster::start_proxy`].
    #[allow(clippy::expect_used)]
    pub fn proxy(&self) -> &xks_proxy::Running {
        self.proxy.as_ref().expect("the proxy is started")
    }

    /// Share service `holder`.
    ///
    /// # Panics
    /// When it is not part of the cluster.
    #[allow(clippy::expect_used)]
    pub fn node(&mut self, holder: u32) -> &mut ShareNode {
        self.nodes.iter_mut().find(|n| n.holder == holder).expect("a share service of the cluster")
    }

    /// Stops share service `holder` gracefully.
    pub async fn stop_share(&mut self, holder: u32) {
        if let Some(running) = self.node(holder).running.take() {
            running.shutdown().await;
        }
    }

    /// Starts share service `holder` again from its configuration file.
    pub async fn start_share(&mut self, holder: u32) {
        self.stop_share(holder).await;
        let path = self.layout.share_dir(holder).join("share-service.toml");
        let running = start_share_service(&path).await;
        self.node(holder).running = Some(running);
    }

    /// A command to share service `holder`'s admin socket.
    ///
    /// # Panics
    /// When the service is stopped.
    #[allow(clippy::expect_used)]
    pub async fn admin(&mut self, holder: u32, command: &str) -> serde_json::Value {
        let socket = self.node(holder).running.as_ref().expect("a running share service").admin_socket.clone();
        crate::admin(&socket, command).await
    }
}

/// Starts a share service from its configuration file, as its `main` does.
///
/// # Panics
/// When the configuration is refused or the service does not start.
#[allow(clippy::expect_used)]
pub async fn start_share_service(config: &Path) -> share_service::Running {
    let config = share_service::Config::load(config).expect("a valid share-service configuration");
    share_service::start(config, &share_service::BuildInfo::current("share-service")).await.expect("the share service starts")
}

/// Starts the proxy from its configuration file, as its `main` does.
///
/// # Panics
/// When the configuration is refused or the proxy does not start.
#[allow(clippy::expect_used)]
pub async fn start_proxy(config: &Path) -> xks_proxy::Running {
    let config = xks_proxy::Config::load(config).expect("a valid proxy configuration");
    xks_proxy::start(config, &xks_proxy::BuildInfo::current("xks-proxy")).await.expect("the proxy starts")
}
