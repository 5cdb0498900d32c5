terraform {
  required_version = ">= 1.10.0"

  required_providers {
    exoscale = {
      source  = "exoscale/exoscale"
      version = "0.74.2"
    }
  }
}
