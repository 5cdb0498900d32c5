terraform {
  required_version = ">= 1.10.0"

  required_providers {
    exoscale = {
      source  = "exoscale/exoscale"
      version = "0.74.2"
    }
  }

  # Holder 2's own state, in holder 2's own account (Exoscale Simple Object Storage speaks S3):
  # terraform init -backend-config=backend.hcl (README.md). No other holder reads it.
  backend "s3" {}
}
