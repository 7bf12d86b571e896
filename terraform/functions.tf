# One Cloud Run function (gen2) per function folder under functions/. The map below is the
# deployable side of infra/path_map.py: tests/test_terraform.py fails when they drift apart.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  # Keyed by function folder; the folder name is also the entry point (a function of that name
  # in the folder's main.py). public = served through the load balancer (PUBLIC_ROUTES);
  # otherwise reached only by Cloud Tasks / Cloud Scheduler with an OIDC token.
  # enqueues = creates Cloud Tasks, so it may enqueue on Podium's queues and act as the invoker.
  # secrets = names in secrets.tf exposed as environment variables, and only to this function.
  functions = {
    leaderboards_api = {
      entry_point = "leaderboards_api"
      public      = true
      enqueues    = true # starting a run enqueues its inference tasks
      # Model tokens are encrypted at rest; auto-select asks OpenRouter for candidate models.
      secrets         = ["PODIUM_SECRET_KEYS", "OPENROUTER_API_KEY"]
      memory          = "512Mi"
      cpu             = "1"
      min_instances   = 0
      max_instances   = 20
      concurrency     = 40 # read-heavy and I/O bound
      timeout_seconds = 60
    }
    workers = {
      entry_point = "workers"
      public      = false
      enqueues    = true # judge after inference, finalize after the last scored cell
      # Decrypts model tokens to call custom endpoints; calls OpenRouter for inference and judging.
      secrets       = ["PODIUM_SECRET_KEYS", "OPENROUTER_API_KEY"]
      memory        = "1Gi"
      cpu           = "1"
      min_instances = 0
      # The queues' max_concurrent_dispatches are the real throttle; this is a cost ceiling.
      max_instances = 50
      concurrency   = 8 # each request is a chunk of slow provider calls, mostly waiting
      # Matches the tasks' dispatch deadline (TASK_DISPATCH_DEADLINE_SECONDS, 30 min, set by
      # CloudTasksQueue): a worst-case chunk of slow calls with retries needs more than 10 min.
      timeout_seconds = 1800
    }
    scheduler = {
      entry_point = "scheduler"
      public      = false
      enqueues    = true # starts due runs and re-enqueues stalled work
      # Never calls a provider, but shared/bootstrap.py's Container loads the Fernet keys at
      # start-up in every function (a missing key fails the instance at boot, by design).
      secrets       = ["PODIUM_SECRET_KEYS"]
      memory        = "512Mi"
      cpu           = "1"
      min_instances = 0
      # One tick at a time: a tick that overruns makes the next one fail fast instead of racing it.
      max_instances   = 1
      concurrency     = 1
      timeout_seconds = 300
    }
  }

  # The same map with the operator's overrides (var.functions) applied.
  function_config = {
    for name, fn in local.functions : name => merge(fn, {
      for attr, value in try(var.functions[name], {}) : attr => value if value != null
    })
  }
  public_functions   = { for name, fn in local.function_config : name => fn if fn.public }
  internal_functions = { for name, fn in local.function_config : name => fn if !fn.public }

  # Cloud Run service names allow no underscores; the function name is also the service name.
  function_names = { for name in keys(local.functions) : name => "${var.name_prefix}-${replace(name, "_", "-")}" }
  # Cloud Run's deterministic URL, known before the service exists, so the workers function can
  # be told its own URL without a dependency cycle.
  function_urls = {
    for name, service in local.function_names :
    name => "https://${service}-${data.google_project.this.number}.${var.region}.run.app"
  }

  # Plain environment of every function. Each name must be a shared.config.Settings field
  # (tests/test_terraform.py checks it; PENDING_SETTINGS there lists the ones not wired yet).
  function_env = {
    GOOGLE_CLOUD_PROJECT = var.project_id
    HF_ENDPOINT          = var.outbound.hf_endpoint
    OPENROUTER_BASE_URL  = var.outbound.openrouter_base_url
    WORKERS_URL          = local.function_urls["workers"]
    TASKS_MODE           = "cloud"
    TASKS_LOCATION       = var.region
    TASKS_INVOKER_SA     = google_service_account.invoker.email
    # A worker records a transient failure as an error only on the last delivery the queue
    # makes: it must know the inference and judge queues' max_attempts.
    TASK_MAX_ATTEMPTS = tostring(min([for name, q in var.queues : q.max_attempts if name != "control"]...))
  }

  bundle_dir = coalesce(var.bundle_dir, "${path.module}/../build")
}

# Deploy bundles from `python -m infra.stage`. Versioned and private; old generations expire.
resource "google_storage_bucket" "bundles" {
  project                     = var.project_id
  name                        = "${var.project_id}-${var.name_prefix}-bundles"
  location                    = var.region
  labels                      = var.labels
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_storage_bucket_object" "bundle" {
  for_each = local.functions

  bucket = google_storage_bucket.bundles.name
  # The content hash in the name makes a changed bundle a new object, and a new object a new
  # build; infra.stage writes byte-identical zips for identical sources, so nothing else does.
  name   = "${each.key}-${filemd5("${local.bundle_dir}/${each.key}.zip")}.zip"
  source = "${local.bundle_dir}/${each.key}.zip"
}

resource "google_cloudfunctions2_function" "this" {
  for_each = local.function_config

  project     = var.project_id
  location    = var.region
  name        = local.function_names[each.key]
  description = "Podium ${each.key} (functions/${each.key}/main.py)"
  labels      = var.labels

  build_config {
    runtime         = "python311"
    entry_point     = each.value.entry_point
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.bundles.name
        object = google_storage_bucket_object.bundle[each.key].name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function[each.key].email
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    min_instance_count               = each.value.min_instances
    max_instance_count               = each.value.max_instances
    max_instance_request_concurrency = each.value.concurrency
    timeout_seconds                  = each.value.timeout_seconds
    all_traffic_on_latest_revision   = true
    # Start-up probe: this resource cannot set one (service_config has no probe fields in the
    # google provider 6.x; only google_cloud_run_v2_service does), so each function's Cloud Run
    # service keeps Cloud Run's default, a TCP probe on PORT. That is enough for what the probe
    # must catch: every main.py calls shared.boot.boot() at import, which functions-framework
    # does before it listens, so an instance with missing or malformed settings (say, no valid
    # PODIUM_SECRET_KEYS) exits with one CRITICAL log line and never opens the port; the new
    # revision never becomes ready and traffic stays on the previous one. Readiness beyond
    # that (Firestore answers) is GET /healthz on the public function: the health_url output,
    # for an uptime check. tests/test_terraform.py ties both to the code.
    # Public functions answer only through the load balancer. Workers and the scheduler are
    # called by Cloud Tasks and Cloud Scheduler from Google's infrastructure (see
    # var.internal_ingress); their invoker IAM (below) admits only the invoker SA's OIDC
    # tokens, so nobody else gets past Cloud Run's front door.
    ingress_settings      = each.value.public ? "ALLOW_INTERNAL_AND_GCLB" : var.internal_ingress
    environment_variables = local.function_env

    dynamic "secret_environment_variables" {
      for_each = toset(each.value.secrets)
      content {
        key        = secret_environment_variables.value
        project_id = var.project_id
        secret     = google_secret_manager_secret.this[secret_environment_variables.value].secret_id
        # Instances read the secret at start-up: a new version reaches new instances only.
        version = "latest"
      }
    }
  }

  lifecycle {
    precondition {
      condition     = length(setsubtract(keys(var.functions), keys(local.functions))) == 0
      error_message = "var.functions has keys that are not functions: ${join(", ", setsubtract(keys(var.functions), keys(local.functions)))}."
    }
  }

  depends_on = [
    google_project_service.this,
    google_project_iam_member.build,
    google_secret_manager_secret_iam_member.accessor,
  ]
}

# The serverless NEG carries no identity, so public functions admit anyone at the IAM layer;
# ingress keeps them reachable only through the load balancer, and they authenticate every
# request themselves (API tokens, Firebase ID tokens).
resource "google_cloud_run_v2_service_iam_member" "public_invoker" {
  for_each = local.public_functions

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.this[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# Workers and the scheduler: only the OIDC identity Cloud Tasks and Cloud Scheduler present.
resource "google_cloud_run_v2_service_iam_member" "task_invoker" {
  for_each = local.internal_functions

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.this[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.invoker.email}"
}
