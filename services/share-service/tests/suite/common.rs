//! This suite's deployment: share service 2 alone, from the kit's layout
//! (our own CA, a 2-of-3 dealt key set), in process on port 0, and the
//! proxy's client certificate to call it with.

use std::path::PathBuf;

use share_service::{Config, Running};
use xks_testkit::{Cluster, Layout, PartnerClient};
use xks_threshold::HolderKey;

pub use xks_testkit::tls_config;

/// The holder this suite's share service holds.
pub const HOLDER: u32 = 2;

pub struct Deployment {
    pub cluster: Cluster,
}

/// The suite's configuration: the layout's, with a checkpoint every second.
fn suite_config(layout: &Layout, edit: impl FnOnce(&mut Config)) -> Config {
    let mut config = layout.share_service(HOLDER, std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    config.audit.checkpoint_seconds = 1;
    edit(&mut config);
    config
}

/// Writes the files and a configuration changed by `edit`, without starting
/// the service; returns the configuration file.
pub fn write_files(name: &str, edit: impl FnOnce(&mut Config)) -> PathBuf {
    let layout = Layout::new(name, 7);
    layout.write_share_config(HOLDER, &suite_config(&layout, edit))
}

impl Deployment {
    /// Starts the service with the suite's configuration changed by `edit`.
    pub async fn start(name: &str, edit: impl Fn(&mut Config)) -> Self {
        let layout = Layout::new(name, 7);
        let config = suite_config(&layout, edit);
        Self { cluster: Cluster::start_shares(layout, &[HOLDER], |c| *c = Config { listen: c.listen, ..config.clone() }).await }
    }

    pub fn layout(&self) -> &Layout {
        &self.cluster.layout
    }

    /// The service's directory (configuration, audit log, controls).
    pub fn dir(&self) -> PathBuf {
        self.layout().share_dir(HOLDER)
    }

    /// Changes the configuration, writes it and restarts the service.
    pub async fn reconfigure(&mut self, edit: impl FnOnce(&mut Config)) {
        let node = self.cluster.node(HOLDER);
        edit(&mut node.config);
        let config = node.config.clone();
        self.cluster.layout.write_share_config(HOLDER, &config);
        self.restart().await;
    }

    pub async fn restart(&mut self) {
        self.cluster.start_share(HOLDER).await;
    }

    pub fn running(&self) -> &Running {
        self.cluster.nodes[0].running.as_ref().unwrap()
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.running().addr
    }

    /// Holder `i + 1`'s share with the key set.
    pub fn holder_key(&self, i: usize) -> HolderKey {
        HolderKey::new(self.layout().shares[i].clone(), self.layout().key_set.clone()).unwrap()
    }

    /// A client presenting the proxy's certificate.
    pub fn client(&self) -> PartnerClient {
        PartnerClient::new(self.addr(), self.layout().ca_pem(), Some(&self.layout().proxy_client))
    }

    pub async fn admin(&self, cmd: &str) -> serde_json::Value {
        xks_testkit::admin(&self.running().admin_socket, cmd).await
    }
}
