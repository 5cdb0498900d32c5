# Holder 2: share service 2 on Exoscale (ch-gva-2). Reads holder 2's files and public files
# of secrets/example only (tests/terraform/lint.py checks it). Its runtime identity never
# passes through Terraform: holder 2 installs it over SSH (modules/share-service-host/install-identity).

provider "exoscale" {}

locals {
  environment = "example"
  holder      = 2
  secrets     = "${path.module}/../../../../secrets/${local.environment}"
  deployment  = jsondecode(file("${local.secrets}/public/deployment.json"))
  share       = one([for s in local.deployment.shares : s if s.holder == local.holder])

  own_files = [for f in fileset("${local.secrets}/holder-2", "*") : f if f != "runtime.agekey.sops"]
  # Every key set (all public): during a refresh or a rotation the services load two.
  public_files = concat(tolist(fileset("${local.secrets}/public", "keyset-*.json")), ["ca.crt", "share-2.crt"])
}

module "share" {
  source = "../../../modules/share-service-exoscale"

  holder         = local.holder
  port           = local.share.port
  binary_url     = var.binary_url
  binary_sha256  = var.binary_sha256
  operator_cidrs = var.operator_cidrs
  ssh_public_key = var.ssh_public_key
  files = merge(
    { for f in local.own_files : f => file("${local.secrets}/holder-2/${f}") },
    { for f in local.public_files : f => file("${local.secrets}/public/${f}") },
  )
  labels            = { holder = "2", environment = local.environment }
  destroy_protected = var.destroy_protected
}
