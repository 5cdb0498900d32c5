output "custom_key_store_id" {
  description = "The external key store (cks-…)."
  value       = module.key_store.custom_key_store_id
}

output "key_arns" {
  description = "ARN of each KMS key, by external key id."
  value       = module.key_store.key_arns
}

output "aliases" {
  description = "Alias => key ARN."
  value       = module.key_store.aliases
}
