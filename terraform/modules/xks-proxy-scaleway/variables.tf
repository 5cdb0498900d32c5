variable "name" {
  type        = string
  description = "Name of the container namespace and of the container."
  default     = "xks-proxy"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,32}[a-z0-9]$", var.name))
    error_message = "name: lower-case letters, digits and '-', 2 to 34 characters, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Scaleway region. The reference deployment runs the proxy in France (fr-par)."
  default     = "fr-par"

  validation {
    condition     = contains(["fr-par", "nl-ams", "pl-waw"], var.region)
    error_message = "region must be fr-par, nl-ams or pl-waw."
  }
}

variable "project_id" {
  type        = string
  description = "Scaleway project holding the namespace (null: the provider's default project)."
  default     = null

  validation {
    condition     = var.project_id == null || can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.project_id))
    error_message = "project_id must be a UUID."
  }
}

variable "image" {
  type        = string
  description = "The xks-proxy image by digest, e.g. rg.fr-par.scw.cloud/xks/xks-proxy@sha256:<64 hex>. Our images hold no secrets, so any registry, public ones included, will do. A tag is refused: what runs must be what was audited."

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must name the image by digest: <registry>/<path>@sha256:<64 hex>."
  }
}

variable "port" {
  type        = number
  description = "Port the proxy listens on inside the container (plain HTTP/1.1 and h2c behind Scaleway's TLS)."
  default     = 8080

  validation {
    condition     = var.port >= 1024 && var.port <= 65535 && !contains([8008, 8012, 8013, 8022, 9090, 9091], var.port)
    error_message = "port must be 1024-65535 and not one Scaleway reserves (8008, 8012, 8013, 8022, 9090, 9091)."
  }
}

variable "protocol" {
  type        = string
  description = "How Scaleway's front talks to the container: h2c (HTTP/2 without TLS) or http1. The proxy's plain front speaks both."
  default     = "h2c"

  validation {
    condition     = contains(["h2c", "http1"], var.protocol)
    error_message = "protocol must be h2c or http1."
  }
}

variable "min_scale" {
  type        = number
  description = "Instances kept running. At least 1, so that KMS never meets a cold start (its budget is 250 ms per request); 2 keeps one through Scaleway's rolling restarts."
  default     = 2

  validation {
    condition     = var.min_scale >= 1 && var.min_scale <= 50
    error_message = "min_scale must be between 1 and 50: a cold start does not fit in KMS's 250 ms."
  }
}

variable "max_scale" {
  type        = number
  description = "Upper bound of instances. Sizing in the module README: CPU is not the limit, Scaleway's 1,000 invocations/s per container is."
  default     = 4

  validation {
    condition     = var.max_scale >= 1 && var.max_scale <= 50
    error_message = "max_scale must be between 1 and 50 (Scaleway's limit per container)."
  }
}

variable "concurrent_requests_threshold" {
  type        = number
  description = "In-flight requests per instance above which Scaleway adds an instance (at most 80)."
  default     = 50

  validation {
    condition     = var.concurrent_requests_threshold >= 1 && var.concurrent_requests_threshold <= 80
    error_message = "concurrent_requests_threshold must be between 1 and 80 (Scaleway's concurrency per instance)."
  }
}

variable "cpu_limit" {
  type        = number
  description = "mvCPU per instance. 560 serves some 5,000 requests/s at about 100 µs of proxy CPU each (docs/benchmarks.md)."
  default     = 560

  validation {
    condition     = var.cpu_limit >= 70 && var.cpu_limit <= 6000
    error_message = "cpu_limit must be between 70 and 6000 mvCPU."
  }
}

variable "memory_limit_mb" {
  type        = number
  description = "Memory per instance in MB (Scaleway pairs 1,024 MB with 560 mvCPU)."
  default     = 1024

  validation {
    condition     = var.memory_limit_mb >= 128 && var.memory_limit_mb <= 12228
    error_message = "memory_limit_mb must be between 128 and 12228."
  }
}

variable "hostname" {
  type        = string
  description = "The proxy's public name, e.g. xks.example.eu. KMS requires a certificate from a public CA on the endpoint; Scaleway issues one for a custom domain."

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.hostname))
    error_message = "hostname must be a fully qualified lower-case DNS name."
  }
}

variable "dns_zone" {
  type        = string
  description = "Scaleway DNS zone that holds hostname (e.g. example.eu): the module writes the CNAME. Null when the zone is elsewhere: create a CNAME from hostname to the cname_target output first."
  default     = null

  validation {
    condition     = var.dns_zone == null || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.dns_zone))
    error_message = "dns_zone must be a DNS zone name."
  }
}

variable "uri_path" {
  type        = string
  description = "The key store's XKS URI path, [/prefix]/kms/xks/v1 (it must match a prefix in the proxy's key-stores.toml); passed on to the AWS root."
  default     = "/kms/xks/v1"

  validation {
    condition     = length(var.uri_path) <= 128 && can(regex("^(/[A-Za-z0-9._~-]+)*/kms/xks/v1$", var.uri_path))
    error_message = "uri_path must be [/<prefix>]/kms/xks/v1 and at most 128 characters."
  }
}

variable "files" {
  type        = map(string)
  description = "The proxy's files (relative path => content): xks-proxy.toml, key-stores.toml, the key set, certificates, and the sealed share, TLS client key and SigV4 credentials. Public or sealed only. They reach the container as one secret environment variable (Scaleway keeps an argon2id hash of it in state), and the proxy writes them to a private directory at start (--files-from-env)."

  validation {
    condition     = alltrue([for path in keys(var.files) : can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", path)) && !can(regex("(^|/)\\.\\.?(/|$)", path))])
    error_message = "files: each path is relative, made of [A-Za-z0-9._-] segments, without '.' or '..'."
  }

  validation {
    condition     = alltrue([for content in values(var.files) : !can(regex("AGE-SECRET-KEY-1|-----BEGIN ([A-Z]+ )?PRIVATE KEY-----", content))])
    error_message = "files: a value holds an age identity or an unsealed private key. Seal it to holder 1 (xksctl secrets seal); the identity goes in age_identity."
  }

  validation {
    condition     = length(jsonencode(var.files)) <= 65536
    error_message = "files: more than 64 KiB once encoded, Scaleway's limit for one secret environment variable."
  }
}

variable "config_file" {
  type        = string
  description = "The proxy configuration among files, passed as --config."
  default     = "xks-proxy.toml"
}

variable "age_identity" {
  type        = string
  description = "Holder 1's runtime age identity (AGE-SECRET-KEY-1…), which opens the sealed files. Give it as TF_VAR_age_identity from `xksctl secrets unseal` of its sealed copy; it reaches the container as a secret environment variable, and Terraform state keeps only Scaleway's argon2id hash of it. Do not save plans (-out): a plan file holds variable values."
  sensitive   = true

  validation {
    condition     = can(regex("^AGE-SECRET-KEY-1[0-9A-Z]{58}$", var.age_identity))
    error_message = "age_identity must be one age X25519 identity (AGE-SECRET-KEY-1 followed by 58 characters)."
  }
}

variable "environment" {
  type        = map(string)
  description = "Further plain environment variables (XKS_PROXY_* override configuration keys; RUST_LOG sets the log level). Never secrets."
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment) : !startswith(k, "SCW_") && k != "SOPS_AGE_KEY" && k != "XKS_DEPLOY_FILES"])
    error_message = "environment: SCW_* is Scaleway's, SOPS_AGE_KEY and XKS_DEPLOY_FILES are set by the module."
  }
}

variable "tags" {
  type        = list(string)
  description = "Tags on the namespace and the container."
  default     = ["xks", "holder-1"]
}
