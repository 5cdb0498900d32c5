variable "holder" {
  type        = number
  description = "The holder whose share this host serves (2 or 3)."

  validation {
    condition     = contains([2, 3], var.holder)
    error_message = "holder must be 2 or 3: holder 1 is the XKS proxy."
  }
}

variable "files" {
  type        = map(string)
  description = "Files written under /etc/share-service, by path relative to it: the service configuration, the key set, certificates, and the sealed (sops) share and TLS key. Public or sealed only: they land in Terraform state and in the provider's instance metadata."

  validation {
    condition     = alltrue([for path in keys(var.files) : can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", path)) && !can(regex("(^|/)\\.\\.?(/|$)", path))])
    error_message = "files: each path is relative to /etc/share-service, made of [A-Za-z0-9._-] segments, without '.' or '..'."
  }

  validation {
    condition     = alltrue([for content in values(var.files) : !can(regex("AGE-SECRET-KEY-1|-----BEGIN ([A-Z]+ )?PRIVATE KEY-----", content))])
    error_message = "files: a value holds an age identity or an unsealed private key. Seal it to the holder (xksctl secrets seal) or leave it out: the identity is installed by the holder (install-identity), never by Terraform."
  }
}

variable "config_file" {
  type        = string
  description = "The service configuration among files (relative path), passed as --config."
  default     = "share-service.toml"
}

variable "binary_url" {
  type        = string
  description = "HTTPS URL of the static share-service binary (images/static-binaries; the same bytes as in the image)."

  validation {
    condition     = can(regex("^https://[^\\s]+$", var.binary_url))
    error_message = "binary_url must be an https:// URL."
  }
}

variable "binary_sha256" {
  type        = string
  description = "SHA-256 of the binary (hex). The host refuses any other bytes; the running service reports the same value as executableSha256 on /v1/health."

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.binary_sha256))
    error_message = "binary_sha256 must be 64 lower-case hex digits."
  }
}

variable "data_device" {
  type        = string
  description = "Block device of the separate volume that holds the audit log and the control state: formatted only if it holds no file system, so a volume moved to a new host keeps its audit log."

  validation {
    condition     = can(regex("^/dev/[A-Za-z0-9/_.:-]+$", var.data_device))
    error_message = "data_device must be a path under /dev."
  }
}

variable "loopback_addresses" {
  type        = list(string)
  description = "Extra IPv4 addresses configured on the loopback interface at boot (an Exoscale elastic IP must be configured inside the instance)."
  default     = []

  validation {
    condition     = alltrue([for a in var.loopback_addresses : can(cidrhost("${a}/32", 0))])
    error_message = "loopback_addresses must be IPv4 addresses."
  }
}
