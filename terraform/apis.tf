# Every API Podium touches, enabled before anything that needs it. disable_on_destroy is off:
# tearing Podium down must not switch off an API another workload in the project relies on.

locals {
  services = [
    "artifactregistry.googleapis.com", # images built from the function bundles
    "cloudbuild.googleapis.com",       # builds those images
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudtasks.googleapis.com",
    "compute.googleapis.com", # the external load balancer
    "firestore.googleapis.com",
    "iam.googleapis.com", # service accounts
    "run.googleapis.com", # Cloud Run functions run as Cloud Run services
    "secretmanager.googleapis.com",
    "storage.googleapis.com", # the bundle bucket
  ]
}

resource "google_project_service" "this" {
  for_each = toset(local.services)

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
