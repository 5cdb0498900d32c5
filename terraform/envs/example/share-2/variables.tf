variable "binary_url" {
  type        = string
  description = "HTTPS URL of the static share-service binary (the same bytes as in the image: images/static-binaries or the Nix build)."
}

variable "binary_sha256" {
  type        = string
  description = "SHA-256 of that binary; the host refuses other bytes and the service reports it as executableSha256."
}

variable "operator_cidrs" {
  type        = list(string)
  description = "Holder 2's own networks, the only sources allowed to SSH (installing the runtime identity, the kill switch, reading the audit log). Empty: no SSH."
  default     = []
}

variable "ssh_public_key" {
  type        = string
  description = "Holder 2's SSH public key (OpenSSH format); null: none."
  default     = null
}

variable "destroy_protected" {
  type        = bool
  description = "Exoscale's deletion protection of the instance. Turned off only for the apply that replaces the instance to roll out new files (runbooks/replace-share-host); the audit volume is kept."
  default     = true
}
