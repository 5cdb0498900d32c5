output "address" {
  description = "IPv4 address of the standby share service (null while it is off). Put it in DNS for the name on its TLS certificate."
  value       = var.enabled ? hcloud_server.share[0].ipv4_address : null
}

output "ipv6_address" {
  description = "IPv6 address of the standby share service (null while it is off)."
  value       = var.enabled ? hcloud_server.share[0].ipv6_address : null
}

output "port" {
  description = "The mutual-TLS port."
  value       = var.port
}

output "binary_sha256" {
  description = "SHA-256 of the binary the host runs; /v1/health reports it as executableSha256."
  value       = var.binary_sha256
}

output "enabled" {
  description = "Whether the standby exists."
  value       = var.enabled
}
