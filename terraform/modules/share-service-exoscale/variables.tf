variable "name" {
  type        = string
  description = "Name of the instance and prefix of its security group, volume and elastic IP."
  default     = "xks-share-2"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,40}[a-z0-9]$", var.name))
    error_message = "name: lower-case letters, digits and '-', 2 to 42 characters, starting with a letter."
  }
}

variable "holder" {
  type        = number
  description = "The holder this host serves (2 in the reference deployment)."
  default     = 2

  validation {
    condition     = contains([2, 3], var.holder)
    error_message = "holder must be 2 or 3: holder 1 is the XKS proxy."
  }
}

variable "zone" {
  type        = string
  description = "Exoscale zone. The reference deployment keeps share 2 in Switzerland (ch-gva-2)."
  default     = "ch-gva-2"

  validation {
    condition     = contains(["ch-gva-2", "ch-dk-2", "de-fra-1", "de-muc-1", "at-vie-1", "at-vie-2", "bg-sof-1", "hr-zag-1"], var.zone)
    error_message = "zone must be an Exoscale zone (ch-gva-2, ch-dk-2, de-fra-1, de-muc-1, at-vie-1, at-vie-2, bg-sof-1, hr-zag-1)."
  }
}

variable "instance_type" {
  type        = string
  description = "Instance type (<family>.<size>), at least small: Exoscale attaches block storage volumes to small instances and up. One partial costs about 90 µs of CPU (docs/benchmarks.md): 1,800 requests/s is a fifth of one core."
  default     = "standard.small"

  validation {
    condition     = can(regex("^[a-z0-9]+\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like standard.small."
  }
}

variable "template_name" {
  type        = string
  description = "Name of the public Exoscale template (Debian with cloud-init and systemd). List them with `exo compute instance-template list`."
  default     = "Linux Debian 12 (Bookworm) 64-bit"

  validation {
    condition     = length(var.template_name) > 0
    error_message = "template_name must not be empty."
  }
}

variable "disk_size" {
  type        = number
  description = "Root disk (GiB). The audit log lives on the separate volume."
  default     = 10

  validation {
    condition     = var.disk_size >= 10 && var.disk_size <= 400
    error_message = "disk_size must be between 10 and 400 GiB."
  }
}

variable "volume_size" {
  type        = number
  description = "Size of the separate block storage volume for the audit log and control state (GB). The audit log grows by one record per request: size it from a day of records (du -s of the audit directory) and the retention you need."
  default     = 10

  validation {
    condition     = var.volume_size >= 10 && var.volume_size <= 1000
    error_message = "volume_size must be between 10 and 1000 GB."
  }
}

variable "port" {
  type        = number
  description = "The mutual-TLS port of the share service (its configuration must listen on it)."
  default     = 9443

  validation {
    condition     = var.port >= 1024 && var.port <= 65535 && var.port != 22
    error_message = "port must be an unprivileged port (1024-65535): the service runs without capabilities."
  }
}

variable "mtls_source_cidrs" {
  type        = list(string)
  description = "Sources allowed to the mTLS port. Scaleway Serverless Containers have no fixed egress addresses, so the default is every address: mutual TLS with a pinned CA and a pinned client identity is the access control."
  default     = ["0.0.0.0/0", "::/0"]

  validation {
    condition     = length(var.mtls_source_cidrs) > 0 && alltrue([for c in var.mtls_source_cidrs : can(cidrhost(c, 0))])
    error_message = "mtls_source_cidrs must be a non-empty list of CIDR blocks."
  }
}

variable "operator_cidrs" {
  type        = list(string)
  description = "The holder's own networks, the only sources allowed to SSH (identity installation, kill switch, logs). Empty: no SSH at all."
  default     = []

  validation {
    condition     = alltrue([for c in var.operator_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0" && c != "::/0"])
    error_message = "operator_cidrs must be CIDR blocks, never the whole Internet."
  }
}

variable "ssh_public_key" {
  type        = string
  description = "The holder's SSH public key (OpenSSH format), authorised for the template's default user. Null: no key."
  default     = null

  validation {
    condition     = var.ssh_public_key == null || can(regex("^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|sk-ssh-ed25519@openssh.com) [A-Za-z0-9+/=]+( .*)?$", var.ssh_public_key))
    error_message = "ssh_public_key must be an OpenSSH ed25519 or ECDSA public key."
  }
}

variable "files" {
  type        = map(string)
  description = "Files for /etc/share-service (relative path => content): configuration, key set, certificates, sealed share and TLS key. Public or sealed only (they land in state and instance metadata); checked by the share-service-host module."
}

variable "config_file" {
  type        = string
  description = "The service configuration among files."
  default     = "share-service.toml"
}

variable "binary_url" {
  type        = string
  description = "HTTPS URL of the static share-service binary."
}

variable "binary_sha256" {
  type        = string
  description = "SHA-256 of that binary (hex): the host refuses other bytes."
}

variable "destroy_protected" {
  type        = bool
  description = "Ask Exoscale to refuse deleting the instance until this is turned off."
  default     = true
}

variable "labels" {
  type        = map(string)
  description = "Labels on every resource."
  default     = {}
}
