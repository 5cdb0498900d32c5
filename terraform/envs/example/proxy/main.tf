# Holder 1: the XKS proxy on Scaleway (fr-par). Reads holder 1's files and public files of
# secrets/example only; another holder's files, the CA key or the AWS credential never pass
# through this root (tests/terraform/lint.py checks it).

provider "scaleway" {
  region = "fr-par"
}

locals {
  environment = "example"
  secrets     = "${path.module}/../../../../secrets/${local.environment}"
  deployment  = jsondecode(file("${local.secrets}/public/deployment.json"))

  # The proxy's bundle: holder 1's sealed files and configuration (all but its runtime
  # identity, which comes as age_identity), and the public files its configuration names.
  own_files = [for f in fileset("${local.secrets}/holder-1", "*") : f if f != "runtime.agekey.sops"]
  # Every key set (all public): during a refresh or a rotation the services load two. The share
  # services' checkpoint verifying keys: the proxy witnesses their signed audit checkpoints.
  public_files = concat(
    tolist(fileset("${local.secrets}/public", "keyset-*.json")),
    tolist(fileset("${local.secrets}/public", "checkpoint-*.pub")),
    ["ca.crt", "proxy-client.crt"],
  )
}

module "proxy" {
  source = "../../../modules/xks-proxy-scaleway"

  image        = var.image
  project_id   = var.project_id
  hostname     = local.deployment.proxy.host
  dns_zone     = var.dns_zone
  port         = local.deployment.proxy.port
  uri_path     = local.deployment.proxy.uri_path
  age_identity = var.age_identity
  files = merge(
    { for f in local.own_files : f => file("${local.secrets}/holder-1/${f}") },
    { for f in local.public_files : f => file("${local.secrets}/public/${f}") },
  )
  tags = ["xks", "holder-1", local.environment]
}
