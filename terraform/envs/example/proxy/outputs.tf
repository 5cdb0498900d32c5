output "endpoint" {
  description = "XksProxyUriEndpoint, for the AWS root (it reads the same value from public/deployment.json)."
  value       = module.proxy.endpoint
}

output "uri_path" {
  description = "XksProxyUriPath."
  value       = module.proxy.uri_path
}

output "image_digest" {
  description = "The image digest the container runs: compare it with a rebuild (docs/auditing.md)."
  value       = module.proxy.image_digest
}

output "cname_target" {
  description = "Where the proxy's public name must point (CNAME) when its DNS zone is not on Scaleway."
  value       = module.proxy.cname_target
}
