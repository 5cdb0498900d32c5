output "user_data" {
  description = "The cloud-init document (#cloud-config). Public: no secret is in it."
  value       = local.user_data
}

output "identity_path" {
  description = "Where install-identity puts the holder's runtime age identity; the service starts once it is there."
  value       = local.identity_path
}
