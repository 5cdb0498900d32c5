variable "image" {
  type        = string
  description = "The xks-proxy image by digest (registry/xks-proxy@sha256:<64 hex>), as built by nix build .#xks-proxy-image or images/build and pushed by holder 1."
}

variable "age_identity" {
  type        = string
  sensitive   = true
  description = "Holder 1's runtime age identity: TF_VAR_age_identity=\"$(xksctl secrets unseal secrets/example/holder-1/runtime.agekey.sops -i <holder 1's offline identity>)\". Terraform keeps no copy in state (Scaleway stores an argon2id hash of secret environment variables); never save a plan (-out), which would hold it."
}

variable "project_id" {
  type        = string
  description = "Holder 1's Scaleway project (null: the provider's default, SCW_DEFAULT_PROJECT_ID)."
  default     = null
}

variable "dns_zone" {
  type        = string
  description = "Scaleway DNS zone of the proxy's public name, when Scaleway serves it (null: write the CNAME where the zone is served; the cname_target output says where to)."
  default     = null
}
