terraform {
  required_version = ">= 1.10.0"

  required_providers {
    hcloud = {
      source  = "hetznercloud/hcloud"
      version = "1.63.0"
    }
  }

  # Holder 3's own state, in holder 2's own account (Hetzner Object Storage speaks S3):
  # terraform init -backend-config=backend.hcl (README.md). No other holder reads it.
  backend "s3" {}
}
