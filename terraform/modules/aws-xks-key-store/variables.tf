variable "name" {
  type        = string
  description = "Name of the custom key store (unique in the account and region)."
  default     = "split-key-xks"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,256}$", var.name))
    error_message = "name must be 1 to 256 characters of [A-Za-z0-9_.-]."
  }
}

variable "endpoint" {
  type        = string
  description = "The proxy's URI endpoint, https://<public name> (no path, no port): the proxy root's endpoint output."

  validation {
    condition     = can(regex("^https://([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.endpoint))
    error_message = "endpoint must be https:// followed by a DNS name, without port or path."
  }
}

variable "uri_path" {
  type        = string
  description = "The proxy's URI path: [/prefix]/kms/xks/v1, at most 128 characters (the proxy root's uri_path output)."

  validation {
    condition     = length(var.uri_path) <= 128 && can(regex("^(/[A-Za-z0-9._~-]+)*/kms/xks/v1$", var.uri_path))
    error_message = "uri_path must be [/<prefix>]/kms/xks/v1 and at most 128 characters."
  }
}

variable "access_key_id" {
  type        = string
  description = "Access key ID of the SigV4 credential KMS signs with (xksctl credentials new)."

  validation {
    condition     = can(regex("^[A-Z2-7]{20,30}$", var.access_key_id))
    error_message = "access_key_id must be 20 to 30 characters of A-Z and 2-7."
  }
}

variable "secret_access_key" {
  type        = string
  description = "Secret access key of that credential. The AWS provider keeps it in state (raw_secret_access_key has no write-only form): keep this root's state encrypted, and rotate with xksctl credentials rotate (docs/deploy/state.md)."
  sensitive   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9/+=]{43,64}$", var.secret_access_key))
    error_message = "secret_access_key must be 43 to 64 characters of A-Z a-z 0-9 / + =."
  }
}

variable "keys" {
  type = map(object({
    xks_key_id  = string
    description = string
    aliases     = optional(list(string), [])
  }))
  description = "The KMS keys in the store, by a Terraform name: each names an external key id the proxy knows (key-stores.toml)."

  validation {
    condition     = alltrue([for k in values(var.keys) : can(regex("^[A-Za-z0-9_.:-]{1,128}$", k.xks_key_id))])
    error_message = "xks_key_id must be 1 to 128 characters of [A-Za-z0-9_.:-]."
  }

  validation {
    condition     = alltrue(flatten([for k in values(var.keys) : [for a in k.aliases : can(regex("^alias/[A-Za-z0-9/_-]{1,250}$", a)) && !startswith(a, "alias/aws/")]]))
    error_message = "aliases must be alias/<name> ([A-Za-z0-9/_-]) and not in alias/aws/."
  }
}

variable "administrator_arns" {
  type        = list(string)
  description = "IAM principals that administer the keys (describe, enable, disable, schedule deletion, policies, aliases) but cannot use them."

  validation {
    condition     = length(var.administrator_arns) > 0 && alltrue([for a in var.administrator_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/.+|user/.+)$", a))])
    error_message = "administrator_arns must be a non-empty list of IAM role, user or root ARNs."
  }
}

variable "user_arns" {
  type        = list(string)
  description = "IAM principals that may use the keys directly (Encrypt, Decrypt, ReEncrypt, GenerateDataKey, DescribeKey)."
  default     = []

  validation {
    condition     = alltrue([for a in var.user_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role/.+|user/.+)$", a))])
    error_message = "user_arns must be IAM role or user ARNs."
  }
}

variable "s3_user_arns" {
  type        = list(string)
  description = "IAM principals that may use the keys only through S3 in this region (kms:ViaService), e.g. for SSE-KMS buckets."
  default     = []

  validation {
    condition     = alltrue([for a in var.s3_user_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role/.+|user/.+)$", a))])
    error_message = "s3_user_arns must be IAM role or user ARNs."
  }
}

variable "deletion_window_in_days" {
  type        = number
  description = "Waiting period before a scheduled key deletion completes."
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}

variable "aws_cli" {
  type        = string
  description = "The AWS CLI the connect step runs (it uses the same credentials and region as the provider: AWS_PROFILE, AWS_REGION…)."
  default     = "aws"
}

variable "connect_timeout_seconds" {
  type        = number
  description = "How long the connect step waits for CONNECTED (KMS allows up to 20 minutes)."
  default     = 1200

  validation {
    condition     = var.connect_timeout_seconds >= 60 && var.connect_timeout_seconds <= 3600
    error_message = "connect_timeout_seconds must be between 60 and 3600."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags on the keys."
  default     = {}
}
