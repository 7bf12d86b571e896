# One runtime identity per function, so a compromised function holds only its own grants; one
# invoker identity for the OIDC tokens of Cloud Tasks and Cloud Scheduler; one build identity.

resource "google_service_account" "function" {
  for_each = local.functions

  project      = var.project_id
  account_id   = local.function_names[each.key]
  display_name = "Podium ${each.key} runtime"

  depends_on = [google_project_service.this]
}

resource "google_service_account" "invoker" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-invoker"
  display_name = "Podium task and scheduler invoker"
  description  = "Identity in the OIDC tokens Cloud Tasks and Cloud Scheduler present to the workers and scheduler functions; it holds run.invoker on those two only."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-build"
  display_name = "Podium function builds"
  description  = "Cloud Build identity that turns the function bundles into images, instead of the default compute service account."

  depends_on = [google_project_service.this]
}

# Every function reads and writes Firestore.
resource "google_project_iam_member" "datastore_user" {
  for_each = local.functions

  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.function[each.key].email}"
}

# Enqueuers may create tasks on Podium's queues only (queue-level, not project-level, grants).
locals {
  enqueue_grants = {
    for pair in setproduct([for name, fn in local.functions : name if fn.enqueues], keys(var.queues)) :
    "${pair[0]}/${pair[1]}" => { function = pair[0], queue = pair[1] }
  }
}

resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = local.enqueue_grants

  project  = var.project_id
  location = var.region
  name     = google_cloud_tasks_queue.this[each.value.queue].name
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

# A task carrying an OIDC token for the invoker SA may only be created by someone who can act as
# that SA: grant it on the invoker SA alone, to the enqueuers alone.
resource "google_service_account_iam_member" "enqueuer_acts_as_invoker" {
  for_each = { for name, fn in local.functions : name => fn if fn.enqueues }

  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.function[each.key].email}"
}

# What a function build needs (terraform_data.image in functions.tf): write its logs, push the
# image to Artifact Registry, read the uploaded source.
resource "google_project_iam_member" "build" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/artifactregistry.writer",
    "roles/storage.objectViewer",
  ])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.build.email}"
}

# `gcloud builds submit --service-account` refuses to run without a place for the build log:
# build-logs/ in the bundles bucket. Create only: it cannot replace or delete a bundle.
resource "google_storage_bucket_iam_member" "build_logs" {
  bucket = google_storage_bucket.bundles.name
  role   = "roles/storage.objectCreator"
  member = "serviceAccount:${google_service_account.build.email}"
}
