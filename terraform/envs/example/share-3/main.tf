# Holder 3: the standby share service 3 on Hetzner (Germany), off until enabled. Reads holder
# 3's files and public files of secrets/example only (tests/terraform/lint.py checks it). Its
# runtime identity never passes through Terraform: holder 3 installs it over SSH.

provider "hcloud" {}

locals {
  environment = "example"
  holder      = 3
  secrets     = "${path.module}/../../../../secrets/${local.environment}"
  deployment  = jsondecode(file("${local.secrets}/public/deployment.json"))
  share       = one([for s in local.deployment.shares : s if s.holder == local.holder])

  own_files = [for f in fileset("${local.secrets}/holder-3", "*") : f if f != "runtime.agekey.sops"]
  # Every key set (all public): during a refresh or a rotation the services load two.
  public_files = concat(tolist(fileset("${local.secrets}/public", "keyset-*.json")), ["ca.crt", "share-3.crt"])
}

module "share" {
  source = "../../../modules/share-service-hetzner"

  enabled        = var.enabled
  holder         = local.holder
  port           = local.share.port
  binary_url     = var.binary_url
  binary_sha256  = var.binary_sha256
  operator_cidrs = var.operator_cidrs
  ssh_public_key = var.ssh_public_key
  files = merge(
    { for f in local.own_files : f => file("${local.secrets}/holder-3/${f}") },
    { for f in local.public_files : f => file("${local.secrets}/public/${f}") },
  )
  labels            = { holder = "3", environment = local.environment }
  delete_protection = var.delete_protection
}
