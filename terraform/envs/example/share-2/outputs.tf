output "address" {
  description = "The elastic IP: holder 2 points the share service's public name (public/deployment.json) at it."
  value       = module.share.address
}

output "name" {
  description = "The public name on the share service's certificate, which the proxy connects to."
  value       = local.share.host
}

output "binary_sha256" {
  description = "SHA-256 of the binary the host runs."
  value       = module.share.binary_sha256
}
