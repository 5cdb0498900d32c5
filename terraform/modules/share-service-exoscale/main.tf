locals {
  labels = merge(var.labels, { "xks-holder" = tostring(var.holder) })
  mtls_rules = {
    for cidr in var.mtls_source_cidrs : cidr => cidr
  }
  ssh_rules = {
    for cidr in var.operator_cidrs : cidr => cidr
  }
}

data "exoscale_template" "debian" {
  zone = var.zone
  name = var.template_name
}

resource "exoscale_security_group" "share" {
  name        = var.name
  description = "Share service ${var.holder}: the mTLS port from anywhere (mutual TLS is the access control), SSH from the holder's networks only"
}

resource "exoscale_security_group_rule" "mtls" {
  for_each = local.mtls_rules

  security_group_id = exoscale_security_group.share.id
  description       = "share service mTLS"
  type              = "INGRESS"
  protocol          = "TCP"
  cidr              = each.value
  start_port        = var.port
  end_port          = var.port
}

resource "exoscale_security_group_rule" "ssh" {
  for_each = local.ssh_rules

  security_group_id = exoscale_security_group.share.id
  description       = "holder SSH (identity installation, kill switch, logs)"
  type              = "INGRESS"
  protocol          = "TCP"
  cidr              = each.value
  start_port        = 22
  end_port          = 22
}

resource "exoscale_elastic_ip" "share" {
  zone        = var.zone
  description = "share service ${var.holder}"
  labels      = local.labels
}

resource "exoscale_block_storage_volume" "state" {
  name   = "${var.name}-state"
  zone   = var.zone
  size   = var.volume_size
  labels = local.labels
}

resource "exoscale_ssh_key" "holder" {
  count = var.ssh_public_key == null ? 0 : 1

  name       = "${var.name}-holder"
  public_key = var.ssh_public_key
}

module "host" {
  source = "../share-service-host"

  holder             = var.holder
  files              = var.files
  config_file        = var.config_file
  binary_url         = var.binary_url
  binary_sha256      = var.binary_sha256
  data_device        = "/dev/vdb"
  loopback_addresses = [exoscale_elastic_ip.share.ip_address]
}

resource "exoscale_compute_instance" "share" {
  zone                     = var.zone
  name                     = var.name
  template_id              = data.exoscale_template.debian.id
  type                     = var.instance_type
  disk_size                = var.disk_size
  security_group_ids       = [exoscale_security_group.share.id]
  elastic_ip_ids           = [exoscale_elastic_ip.share.id]
  block_storage_volume_ids = [exoscale_block_storage_volume.state.id]
  ssh_keys                 = [for k in exoscale_ssh_key.holder : k.name]
  ipv6                     = true
  user_data                = module.host.user_data
  destroy_protected        = var.destroy_protected
  labels                   = local.labels

  lifecycle {
    # A new template (Exoscale refreshes them) must not replace the running
    # share service; rebuilding is a deliberate step (docs/deploy/README.md).
    ignore_changes = [template_id]
  }
}
