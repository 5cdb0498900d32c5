# The AWS account: the external key store and its KMS keys. Reads public files and the SigV4
# credential sealed to the AWS operator (aws/credential.sops.json) only, never a holder's
# files (tests/terraform/lint.py checks it). Run with SOPS_AGE_KEY_FILE set to the AWS
# operator's identity.

provider "aws" {
  region = var.region
}

locals {
  environment = "example"
  secrets     = "${path.module}/../../../../secrets/${local.environment}"
  deployment  = jsondecode(file("${local.secrets}/public/deployment.json"))
}

# A data source, not an ephemeral resource: the key store's raw_secret_access_key has no
# write-only form, so the secret is in this root's state either way (docs/deploy/state.md).
data "sops_file" "credential" {
  source_file = "${local.secrets}/aws/credential.sops.json"
}

module "key_store" {
  source = "../../../modules/aws-xks-key-store"

  name               = "split-key-xks-${local.environment}"
  endpoint           = "https://${local.deployment.proxy.host}"
  uri_path           = local.deployment.proxy.uri_path
  access_key_id      = data.sops_file.credential.data["access_key_id"]
  secret_access_key  = data.sops_file.credential.data["secret_access_key"]
  administrator_arns = var.administrator_arns
  user_arns          = var.user_arns
  s3_user_arns       = var.s3_user_arns
  keys = {
    for k in local.deployment.keys : k.id => {
      xks_key_id  = k.id
      description = "split-key XKS ${local.environment}: key path ${k.key_path}"
      aliases     = ["alias/xks-${local.environment}-${k.id}"]
    }
  }
  tags = { environment = local.environment }
}
