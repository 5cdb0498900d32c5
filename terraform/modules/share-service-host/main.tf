locals {
  etc           = "/etc/share-service"
  state_dir     = "/var/lib/share-service"
  identity_path = "${local.etc}/runtime.agekey"

  user_data = templatefile("${path.module}/cloud-init.yaml.tftpl", {
    holder             = var.holder
    etc                = local.etc
    state_dir          = local.state_dir
    identity_path      = local.identity_path
    config_path        = "${local.etc}/${var.config_file}"
    files              = var.files
    binary_url         = var.binary_url
    binary_sha256      = var.binary_sha256
    data_device        = var.data_device
    loopback_addresses = var.loopback_addresses
  })
}

check "config_file_is_among_files" {
  assert {
    condition     = contains(keys(var.files), var.config_file)
    error_message = "config_file (${var.config_file}) is not among files."
  }
}
