locals {
  image_digest = regex("sha256:[0-9a-f]{64}$", var.image)
  # The CNAME's name inside dns_zone ("" for the zone apex is not allowed: a
  # CNAME cannot sit at the apex).
  record_name = var.dns_zone == null ? null : trimsuffix(var.hostname, ".${var.dns_zone}")
  # Scaleway's own name for the container, which the custom domain points to.
  native_host = trimprefix(scaleway_container.proxy.public_endpoint, "https://")
}

resource "scaleway_container_namespace" "proxy" {
  name        = var.name
  description = "XKS proxy (holder 1) of the split-key external key store"
  region      = var.region
  project_id  = var.project_id
  tags        = var.tags
}

resource "scaleway_container" "proxy" {
  name         = var.name
  namespace_id = scaleway_container_namespace.proxy.id
  region       = var.region
  description  = "XKS proxy (holder 1): SigV4 from KMS, mTLS to the share services"
  tags         = var.tags

  image    = var.image
  port     = var.port
  protocol = var.protocol
  # KMS authenticates with SigV4, which the proxy checks; Scaleway's token
  # authentication (privacy = "private") is not something KMS can present.
  privacy                = "public"
  https_connections_only = true
  sandbox                = "v2"

  min_scale          = var.min_scale
  max_scale          = var.max_scale
  cpu_limit          = var.cpu_limit
  memory_limit_bytes = var.memory_limit_mb * 1000000
  timeout            = 30

  scaling_option {
    concurrent_requests_threshold = var.concurrent_requests_threshold
  }

  # The image's entrypoint is the proxy; these replace its default arguments.
  args = ["--files-from-env", "XKS_DEPLOY_FILES", "--config", var.config_file, "--log-format", "json"]

  environment_variables = merge(var.environment, {
    XKS_PROXY_LISTEN = "0.0.0.0:${var.port}"
  })

  secret_environment_variables = {
    SOPS_AGE_KEY     = var.age_identity
    XKS_DEPLOY_FILES = jsonencode(var.files)
  }

  # GET /ping on the XKS listener answers once the proxy serves (process up);
  # deep health (the partners) is KMS's GetHealthStatus, not the platform's.
  startup_probe {
    failure_threshold = 30
    interval          = "2s"
    timeout           = "1s"
    http {
      path = "/ping"
    }
  }

  liveness_probe {
    failure_threshold = 3
    interval          = "10s"
    timeout           = "2s"
    http {
      path = "/ping"
    }
  }
}

resource "scaleway_domain_record" "proxy" {
  count = var.dns_zone == null ? 0 : 1

  dns_zone = var.dns_zone
  name     = local.record_name
  type     = "CNAME"
  data     = "${local.native_host}."
  ttl      = 300
}

resource "scaleway_container_domain" "proxy" {
  container_id = scaleway_container.proxy.id
  hostname     = var.hostname
  region       = var.region

  # Scaleway checks the CNAME before it binds the name and issues the
  # certificate.
  depends_on = [scaleway_domain_record.proxy]
}
