output "address" {
  description = "The elastic IPv4 address of the share service (put it in DNS for the name on its TLS certificate)."
  value       = exoscale_elastic_ip.share.ip_address
}

output "ipv6_address" {
  description = "The instance's IPv6 address."
  value       = exoscale_compute_instance.share.ipv6_address
}

output "port" {
  description = "The mutual-TLS port."
  value       = var.port
}

output "binary_sha256" {
  description = "SHA-256 of the binary the host runs; /v1/health reports it as executableSha256."
  value       = var.binary_sha256
}

output "instance_id" {
  description = "Exoscale instance ID (exo compute instance show)."
  value       = exoscale_compute_instance.share.id
}
