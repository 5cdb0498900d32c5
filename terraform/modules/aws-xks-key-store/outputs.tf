output "custom_key_store_id" {
  description = "ID of the external key store (cks-…)."
  value       = aws_kms_custom_key_store.xks.id
}

output "key_arns" {
  description = "ARN of each KMS key, by its Terraform name."
  value       = { for name, key in aws_kms_key.xks : name => key.arn }
}

output "key_ids" {
  description = "Key ID of each KMS key, by its Terraform name."
  value       = { for name, key in aws_kms_key.xks : name => key.key_id }
}

output "aliases" {
  description = "Alias => key ARN."
  value       = { for alias, name in local.aliases : alias => aws_kms_key.xks[name].arn }
}
