# One Cloud Run service per function folder under functions/, built from that folder's staged
# bundle. The map below is the deployable side of infra/path_map.py: tests/test_terraform.py
# fails when they drift apart.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  # Keyed by function folder; the folder name is also the entry point (a function of that name
  # in the folder's main.py, build_config.function_target and the bundle's project.toml).
  # public = served through the load balancer (PUBLIC_ROUTES);
  # otherwise reached only by Cloud Tasks / Cloud Scheduler with an OIDC token.
  # enqueues = creates Cloud Tasks, so it may enqueue on Podium's queues and act as the invoker.
  # secrets = names in secrets.tf exposed as environment variables, and only to this function.
  functions = {
    leaderboards_api = {
      public   = true
      enqueues = true # starting a run enqueues its inference tasks
      # Model tokens are encrypted at rest; auto-select asks OpenRouter for candidate models.
      secrets         = ["PODIUM_SECRET_KEYS", "OPENROUTER_API_KEY"]
      memory          = "512Mi"
      cpu             = "1"
      min_instances   = 0
      max_instances   = 20
      concurrency     = 40 # read-heavy and I/O bound
      timeout_seconds = 60
    }
    public_api = {
      public   = true
      enqueues = false # publishing is one transaction; nothing to fan out
      # Never decrypts a model token, but the container loads the Fernet keys at start-up in
      # every function (shared/bootstrap.py), so a missing key fails the instance at boot.
      secrets         = ["PODIUM_SECRET_KEYS"]
      memory          = "512Mi"
      cpu             = "1"
      min_instances   = 0
      max_instances   = 20
      concurrency     = 80 # public, read-heavy, cacheable: a board is one document read
      timeout_seconds = 60
    }
    workers = {
      public   = false
      enqueues = true # judge after inference, finalize after the last scored cell
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
      public   = false
      enqueues = true # starts due runs and re-enqueues stalled work
      # The model_version trigger reads OpenRouter's catalog with a workspace's key (decrypted
      # with the Fernet keys) or the deployment's.
      secrets       = ["PODIUM_SECRET_KEYS", "OPENROUTER_API_KEY"]
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
    PROVIDER_CONCURRENCY = tostring(var.outbound.provider_concurrency)
    WORKERS_URL          = local.function_urls["workers"]
    TASKS_MODE           = "cloud"
    TASKS_LOCATION       = var.region
    TASKS_INVOKER_SA     = google_service_account.invoker.email
    # A worker records a transient failure as an error only on the last delivery the queue
    # makes: it must know the inference and judge queues' max_attempts.
    TASK_MAX_ATTEMPTS = tostring(min([for name, q in var.queues : q.max_attempts if name != "control"]...))
  }

  bundle_dir = coalesce(var.bundle_dir, "${path.module}/../build")
  # The content hash of each staged bundle names both its object and the image built from it.
  bundle_md5 = { for name in keys(local.functions) : name => filemd5("${local.bundle_dir}/${name}.zip") }

  # functions-framework listens on PORT, which Cloud Run sets to this; the probes use it too.
  container_port = 8080
  # The runtime google_cloudfunctions2_function used (python311, Ubuntu 22.04 stack): the
  # builder below has the same stack, and infra.stage pins Python 3.11 in each bundle.
  base_image = "${var.region}-docker.pkg.dev/serverless-runtimes/google-22-full/runtimes/python311"
  builder    = "gcr.io/buildpacks/builder:google-22"
  images = {
    for name, md5 in local.bundle_md5 :
    name => "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}/${replace(name, "_", "-")}:${md5}"
  }
  # Cloud Run names the ingress settings differently from Cloud Functions; var.internal_ingress
  # keeps the names operators already pass.
  internal_ingress = {
    ALLOW_ALL           = "INGRESS_TRAFFIC_ALL"
    ALLOW_INTERNAL_ONLY = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  }[var.internal_ingress]
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
  name   = "${each.key}-${local.bundle_md5[each.key]}.zip"
  source = "${local.bundle_dir}/${each.key}.zip"
}

# Where the function images go: one repository, one image per function, tagged with the hash
# of the bundle it was built from.
resource "google_artifact_registry_repository" "images" {
  project       = var.project_id
  location      = var.region
  repository_id = "${var.name_prefix}-functions"
  description   = "Podium function images, built from the staged bundles."
  format        = "DOCKER"
  labels        = var.labels

  depends_on = [google_project_service.this]
}

# The build. google_cloud_run_v2_service's build_config (below) does not start one: the Cloud
# Run Admin API only records it, and the service runs whatever `image` names
# (hashicorp/terraform-provider-google#22263 and #23057, open; the provider dropped its
# build_config example in 7.13.0). So Cloud Build runs here, with Google Cloud's buildpacks
# (the builder Cloud Run functions use), on the very object build_config points at. Bundle
# unchanged, no rebuild: the hash is in the image tag.
resource "terraform_data" "image" {
  for_each = local.functions

  input = local.images[each.key]
  # Provisioners run on create only: a new tag must replace the resource to be built (a changed
  # input alone is an in-place update that builds nothing).
  triggers_replace = local.images[each.key]

  provisioner "local-exec" {
    # Values travel as environment variables, never spliced into the shell command.
    command = <<-EOT
      gcloud builds submit "$SOURCE" --project "$PROJECT" --region "$REGION" \
        --service-account "$BUILD_SA" --gcs-log-dir "$LOG_DIR" \
        --pack "builder=$BUILDER,image=$IMAGE"
    EOT
    environment = {
      SOURCE   = "gs://${google_storage_bucket.bundles.name}/${google_storage_bucket_object.bundle[each.key].name}"
      PROJECT  = var.project_id
      REGION   = var.region
      BUILD_SA = google_service_account.build.id
      LOG_DIR  = "gs://${google_storage_bucket.bundles.name}/build-logs"
      BUILDER  = local.builder
      IMAGE    = local.images[each.key]
    }
  }

  depends_on = [
    google_project_iam_member.build,
    google_storage_bucket_iam_member.build_logs,
  ]
}

resource "google_cloud_run_v2_service" "function" {
  for_each = local.function_config

  project     = var.project_id
  location    = var.region
  name        = local.function_names[each.key]
  description = "Podium ${each.key} (functions/${each.key}/main.py)"
  labels      = var.labels
  # Public functions answer only through the load balancer. Workers and the scheduler are
  # called by Cloud Tasks and Cloud Scheduler from Google's infrastructure (see
  # var.internal_ingress); their invoker IAM (below) admits only the invoker SA's OIDC tokens,
  # so nobody else gets past Cloud Run's front door.
  ingress = each.value.public ? "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER" : local.internal_ingress
  # Stateless: everything is rebuilt from the bundles, and the data is in Firestore, which keeps
  # its own delete protection. A protected service would block renames and `destroy`.
  deletion_protection = false

  # What the service is built from, as a Cloud Run function: the staged bundle and the entry
  # point. A record for Cloud Run (it shows the service as a function), not a trigger: the
  # build is terraform_data.image, from the same object.
  build_config {
    source_location          = "gs://${google_storage_bucket.bundles.name}/${google_storage_bucket_object.bundle[each.key].name}"
    function_target          = each.key
    base_image               = local.base_image
    service_account          = google_service_account.build.id
    enable_automatic_updates = false # base image fixes arrive with the next build
  }

  template {
    service_account                  = google_service_account.function[each.key].email
    timeout                          = "${each.value.timeout_seconds}s"
    max_instance_request_concurrency = each.value.concurrency

    scaling {
      min_instance_count = each.value.min_instances
      max_instance_count = each.value.max_instances
    }

    containers {
      image = terraform_data.image[each.key].output

      ports {
        container_port = local.container_port
      }

      resources {
        limits = {
          cpu    = each.value.cpu
          memory = each.value.memory
        }
        cpu_idle = true # CPU only while serving, as Cloud Functions allocated it
      }

      # A new instance takes traffic only once GET /healthz answers 200: main.py imported
      # (shared.boot.boot() checked the settings), the container built (secrets decoded) and
      # Firestore read with this service account. A broken configuration fails here, the new
      # revision never becomes ready and traffic stays on the previous one. Up to 2 minutes
      # (12 x 10 s) for a cold start; each try may take 8 s (the Firestore read allows 5).
      startup_probe {
        initial_delay_seconds = 0
        period_seconds        = 10
        timeout_seconds       = 8
        failure_threshold     = 12
        http_get {
          path = "/healthz"
          port = local.container_port
        }
      }
      # No liveness probe: /healthz reads Firestore, so a Firestore outage would restart every
      # instance (workers mid-chunk, whose tasks then retry) without fixing anything; a process
      # that dies is restarted by Cloud Run anyway.

      dynamic "env" {
        for_each = local.function_env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = toset(each.value.secrets)
        content {
          name = env.value
          value_source {
            secret_key_ref {
              secret = google_secret_manager_secret.this[env.value].secret_id
              # Instances read the secret at start-up: a new version reaches new instances only.
              version = "latest"
            }
          }
        }
      }
    }
  }

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
  }

  lifecycle {
    precondition {
      condition     = length(setsubtract(keys(var.functions), keys(local.functions))) == 0
      error_message = "var.functions has keys that are not functions: ${join(", ", setsubtract(keys(var.functions), keys(local.functions)))}."
    }
  }

  depends_on = [
    google_project_service.this,
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
  name     = google_cloud_run_v2_service.function[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# Workers and the scheduler: only the OIDC identity Cloud Tasks and Cloud Scheduler present.
resource "google_cloud_run_v2_service_iam_member" "task_invoker" {
  for_each = local.internal_functions

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.function[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.invoker.email}"
}
