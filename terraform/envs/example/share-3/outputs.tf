output "address" {
  description = "The standby's IPv4 address (null while it is off): holder 3 points the share service's public name at it."
  value       = module.share.address
}

output "name" {
  description = "The public name on the share service's certificate, which the proxy connects to."
  value       = local.share.host
}

output "enabled" {
  description = "Whether the standby exists."
  value       = module.share.enabled
}
