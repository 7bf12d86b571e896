# Global external HTTPS load balancer: one serverless NEG and backend service per public
# function, and a URL map whose path rules are infra/path_map.py's PUBLIC_ROUTES. A prefix P maps
# to the rules P and P/*; when rules overlap the URL map picks the longest match, as the path
# map does. Workers and the scheduler are never behind it. tests/test_terraform.py checks both.

resource "google_compute_global_address" "lb" {
  project = var.project_id
  name    = "${var.name_prefix}-lb"

  depends_on = [google_project_service.this]
}

resource "google_compute_region_network_endpoint_group" "public" {
  for_each = local.public_functions

  project               = var.project_id
  region                = var.region
  name                  = "${local.function_names[each.key]}-neg"
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = google_cloud_run_v2_service.function[each.key].name
  }
}

resource "google_compute_backend_service" "public" {
  for_each = local.public_functions

  project               = var.project_id
  name                  = "${local.function_names[each.key]}-backend"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = var.load_balancer.security_policy

  backend {
    group = google_compute_region_network_endpoint_group.public[each.key].id
  }

  log_config {
    enable      = true
    sample_rate = var.load_balancer.log_sample_rate
  }
}

resource "google_compute_url_map" "https" {
  project = var.project_id
  name    = "${var.name_prefix}-https"
  # path_map.DEFAULT_FUNCTION: what answers a path no prefix claims (its 404 is the API's).
  default_service = google_compute_backend_service.public["leaderboards_api"].id

  host_rule {
    hosts        = [var.domain]
    path_matcher = "api"
  }

  path_matcher {
    name            = "api"
    default_service = google_compute_backend_service.public["leaderboards_api"].id

    path_rule {
      paths   = ["/api/leaderboards", "/api/leaderboards/*"]
      service = google_compute_backend_service.public["leaderboards_api"].id
    }
    path_rule {
      paths   = ["/api/models", "/api/models/*"]
      service = google_compute_backend_service.public["leaderboards_api"].id
    }
    path_rule {
      paths   = ["/api/openapi.json", "/api/openapi.json/*"]
      service = google_compute_backend_service.public["leaderboards_api"].id
    }
    path_rule {
      paths   = ["/api/workspaces", "/api/workspaces/*"]
      service = google_compute_backend_service.public["leaderboards_api"].id
    }
    path_rule {
      paths   = ["/api/public/leaderboard", "/api/public/leaderboard/*"]
      service = google_compute_backend_service.public["public_api"].id
    }
    path_rule {
      paths   = ["/leaderboard", "/leaderboard/*"]
      service = google_compute_backend_service.public["public_api"].id
    }
  }
}

resource "google_compute_managed_ssl_certificate" "api" {
  project = var.project_id
  name    = "${var.name_prefix}-api"

  managed {
    domains = [var.domain]
  }

  depends_on = [google_project_service.this]
}

resource "google_compute_ssl_policy" "modern" {
  project         = var.project_id
  name            = "${var.name_prefix}-modern"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"

  depends_on = [google_project_service.this]
}

resource "google_compute_target_https_proxy" "api" {
  project          = var.project_id
  name             = "${var.name_prefix}-https"
  url_map          = google_compute_url_map.https.id
  ssl_certificates = [google_compute_managed_ssl_certificate.api.id]
  ssl_policy       = google_compute_ssl_policy.modern.id
}

resource "google_compute_global_forwarding_rule" "https" {
  project               = var.project_id
  name                  = "${var.name_prefix}-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_protocol           = "TCP"
  ip_address            = google_compute_global_address.lb.id
  port_range            = "443"
  target                = google_compute_target_https_proxy.api.id
}

# Port 80 only redirects to HTTPS; no API request is ever served in clear text.
resource "google_compute_url_map" "http_redirect" {
  project = var.project_id
  name    = "${var.name_prefix}-http-redirect"

  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }

  depends_on = [google_project_service.this]
}

resource "google_compute_target_http_proxy" "redirect" {
  project = var.project_id
  name    = "${var.name_prefix}-http-redirect"
  url_map = google_compute_url_map.http_redirect.id
}

resource "google_compute_global_forwarding_rule" "http" {
  project               = var.project_id
  name                  = "${var.name_prefix}-http-redirect"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_protocol           = "TCP"
  ip_address            = google_compute_global_address.lb.id
  port_range            = "80"
  target                = google_compute_target_http_proxy.redirect.id
}
