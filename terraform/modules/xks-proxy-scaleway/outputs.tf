output "endpoint" {
  description = "The XKS proxy URI endpoint for the key store (XksProxyUriEndpoint)."
  value       = "https://${scaleway_container_domain.proxy.hostname}"
}

output "uri_path" {
  description = "The XKS proxy URI path (XksProxyUriPath)."
  value       = var.uri_path
}

output "image_digest" {
  description = "Digest of the image the container runs; compare it with a rebuild (docs/auditing.md)."
  value       = local.image_digest
}

output "cname_target" {
  description = "Where the hostname's CNAME must point when dns_zone is not managed here."
  value       = "${local.native_host}."
}

output "container_id" {
  description = "Scaleway container ID ({region}/{id})."
  value       = scaleway_container.proxy.id
}
