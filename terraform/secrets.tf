# The secrets exist here; their values never do. Add versions out of band (terraform/README.md),
# so no secret ever lands in the code or in the Terraform state.

locals {
  # Environment variable name => what it holds. A function lists the names it needs in
  # functions.tf and gets read access to those secrets only.
  secrets = {
    PODIUM_SECRET_KEYS = "Comma-separated Fernet keys; the first encrypts, all decrypt (rotation)."
    OPENROUTER_API_KEY = "OpenRouter API key for inference, judging and model auto-select."
  }

  secret_grants = {
    for grant in flatten([
      for name, fn in local.functions : [for secret in fn.secrets : { function = name, secret = secret }]
    ]) : "${grant.function}/${grant.secret}" => grant
  }
}

resource "google_secret_manager_secret" "this" {
  for_each = local.secrets

  project   = var.project_id
  secret_id = lower(replace(each.key, "_", "-"))
  labels    = var.labels
  annotations = {
    description = each.value
  }

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each = local.secret_grants

  project   = var.project_id
  secret_id = google_secret_manager_secret.this[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.value.function].email}"
}
