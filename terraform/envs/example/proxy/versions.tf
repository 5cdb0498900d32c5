terraform {
  required_version = ">= 1.10.0"

  required_providers {
    scaleway = {
      source  = "scaleway/scaleway"
      version = "2.81.0"
    }
  }

  # Holder 1's own state, in holder 1's own account (Scaleway Object Storage speaks S3):
  # terraform init -backend-config=backend.hcl (README.md). No other holder reads it.
  backend "s3" {}
}
