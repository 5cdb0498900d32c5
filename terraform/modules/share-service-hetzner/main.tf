locals {
  count  = var.enabled ? 1 : 0
  labels = merge(var.labels, { "xks-holder" = tostring(var.holder) })
}

resource "hcloud_firewall" "share" {
  count = local.count

  name   = var.name
  labels = local.labels

  rule {
    description = "share service mTLS (mutual TLS is the access control)"
    direction   = "in"
    protocol    = "tcp"
    port        = tostring(var.port)
    source_ips  = var.mtls_source_cidrs
  }

  dynamic "rule" {
    for_each = length(var.operator_cidrs) > 0 ? [1] : []
    content {
      description = "holder SSH (identity installation, kill switch, logs)"
      direction   = "in"
      protocol    = "tcp"
      port        = "22"
      source_ips  = var.operator_cidrs
    }
  }
}

resource "hcloud_ssh_key" "holder" {
  count = var.enabled && var.ssh_public_key != null ? 1 : 0

  name       = "${var.name}-holder"
  public_key = var.ssh_public_key
  labels     = local.labels
}

resource "hcloud_volume" "state" {
  count = local.count

  name              = "${var.name}-state"
  location          = var.location
  size              = var.volume_size
  delete_protection = var.delete_protection
  labels            = local.labels
}

module "host" {
  source = "../share-service-host"

  holder        = var.holder
  files         = var.files
  config_file   = var.config_file
  binary_url    = var.binary_url
  binary_sha256 = var.binary_sha256
  # The device path Hetzner gives the volume (unused while the standby is off).
  data_device = var.enabled ? hcloud_volume.state[0].linux_device : "/dev/null"
}

resource "hcloud_server" "share" {
  count = local.count

  name                     = var.name
  server_type              = var.server_type
  image                    = var.image
  location                 = var.location
  user_data                = module.host.user_data
  ssh_keys                 = [for k in hcloud_ssh_key.holder : k.id]
  firewall_ids             = [hcloud_firewall.share[0].id]
  delete_protection        = var.delete_protection
  rebuild_protection       = var.delete_protection
  shutdown_before_deletion = true
  labels                   = local.labels

  public_net {
    ipv4_enabled = true
    ipv6_enabled = true
  }

  lifecycle {
    ignore_changes = [ssh_keys, image]
  }
}

resource "hcloud_volume_attachment" "state" {
  count = local.count

  volume_id = hcloud_volume.state[0].id
  server_id = hcloud_server.share[0].id
  automount = false
}
