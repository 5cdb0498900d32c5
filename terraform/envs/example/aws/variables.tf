variable "region" {
  type        = string
  description = "AWS region of the external key store and its keys."
  default     = "eu-central-1"
}

variable "administrator_arns" {
  type        = list(string)
  description = "IAM principals that administer the keys but cannot use them."
}

variable "user_arns" {
  type        = list(string)
  description = "IAM principals that may use the keys directly (Encrypt, Decrypt, GenerateDataKey…)."
  default     = []
}

variable "s3_user_arns" {
  type        = list(string)
  description = "IAM principals that may use the keys only through S3 in this region (SSE-KMS)."
  default     = []
}
