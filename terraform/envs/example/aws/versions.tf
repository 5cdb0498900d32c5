terraform {
  required_version = ">= 1.10.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "6.56.0"
    }
    sops = {
      source  = "carlpett/sops"
      version = "1.4.1"
    }
  }

  # The AWS operator's own state, in the AWS account, encrypted: it holds the SigV4 secret
  # (docs/deploy/state.md). terraform init -backend-config=backend.hcl (README.md).
  backend "s3" {}
}
