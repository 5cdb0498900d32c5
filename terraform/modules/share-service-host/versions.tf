terraform {
  # No provider: this module only renders the cloud-init document that the
  # Exoscale and Hetzner modules hand to their instances.
  required_version = ">= 1.10.0"
}
