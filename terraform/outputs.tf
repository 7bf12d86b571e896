output "lb_ip_address" {
  description = "Point the domain's A record here; the managed certificate is issued once it resolves."
  value       = google_compute_global_address.lb.address
}

output "api_url" {
  description = "Public base URL of the API."
  value       = "https://${var.domain}"
}

output "health_url" {
  description = "Readiness of the public API (200 once Firestore answers; every function's start-up probe asks the same), for an uptime check; the URL map's default service serves it."
  value       = "https://${var.domain}/healthz"
}

output "function_urls" {
  description = "Cloud Run URL of each function (public ones answer only through the load balancer)."
  value       = { for name, service in google_cloud_run_v2_service.function : name => service.uri }
}

output "runtime_service_accounts" {
  description = "Runtime service account of each function."
  value       = { for name, sa in google_service_account.function : name => sa.email }
}

output "invoker_service_account" {
  description = "Identity of the OIDC tokens on Cloud Tasks and Cloud Scheduler calls (TASKS_INVOKER_SA)."
  value       = google_service_account.invoker.email
}

output "queues" {
  description = "Cloud Tasks queue ids, keyed by the names the code enqueues on."
  value       = { for name, queue in google_cloud_tasks_queue.this : name => queue.id }
}

output "secret_ids" {
  description = "Secret Manager secrets that need a version before the functions can start."
  value       = { for name, secret in google_secret_manager_secret.this : name => secret.secret_id }
}

output "images" {
  description = "Image each function runs, tagged with the hash of the bundle it was built from."
  value       = { for name, image in terraform_data.image : name => image.output }
}

output "bundle_bucket" {
  description = "Bucket holding the uploaded function bundles."
  value       = google_storage_bucket.bundles.name
}
