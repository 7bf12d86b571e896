variable "project_id" {
  description = "Project Podium is deployed into."
  type        = string
}

variable "region" {
  description = "Region for the functions, queues, scheduler job and serverless NEGs."
  type        = string
  default     = "europe-west1"
}

variable "name_prefix" {
  description = "Prefix of every named resource (functions, service accounts, LB pieces)."
  type        = string
  default     = "podium"
  validation {
    # Service account ids are at most 30 characters; the longest suffix is "-leaderboards-api".
    condition     = can(regex("^[a-z][a-z0-9-]{1,11}$", var.name_prefix))
    error_message = "name_prefix: 2-12 characters, lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "domain" {
  description = "Public host name of the API; a Google-managed certificate is issued for it once its DNS points at the load balancer address."
  type        = string
}

variable "labels" {
  description = "Labels added to every resource that takes them."
  type        = map(string)
  default     = {}
}

variable "bundle_dir" {
  description = "Directory holding the <function>.zip bundles built by `python -m infra.stage`. Defaults to ../build next to this directory."
  type        = string
  default     = null
}

variable "firestore" {
  description = "The (default) Firestore database."
  type = object({
    # A multi-region (nam5, eur3) or a region; it cannot be changed after creation.
    location_id            = optional(string, "eur3")
    point_in_time_recovery = optional(bool, true)
    delete_protection      = optional(bool, true)
  })
  default  = {}
  nullable = false
}

variable "functions" {
  description = "Per-function overrides of the sizing in functions.tf, keyed by function folder. Unset attributes keep the defaults there."
  type = map(object({
    memory          = optional(string)
    cpu             = optional(string)
    min_instances   = optional(number)
    max_instances   = optional(number)
    concurrency     = optional(number)
    timeout_seconds = optional(number)
  }))
  default  = {}
  nullable = false
}

variable "internal_ingress" {
  description = <<-EOT
    Ingress of the functions Cloud Tasks and Cloud Scheduler call (workers, scheduler). ALLOW_ALL
    always works: their invoker IAM admits only the invoker service account. Cloud Run counts
    Cloud Tasks and Cloud Scheduler of the same project as internal when they call the run.app
    URL, so ALLOW_INTERNAL_ONLY should work too; verify it in a staging project before relying
    on it (a wrong ingress shows up as tasks failing with 404, not as a plan error).
  EOT
  type        = string
  default     = "ALLOW_ALL"
  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY"], var.internal_ingress)
    error_message = "internal_ingress: ALLOW_ALL or ALLOW_INTERNAL_ONLY (the load balancer never routes to these functions)."
  }
}

variable "outbound" {
  description = <<-EOT
    Model provider endpoints the functions call, and how many calls one worker instance has in
    flight per provider host (PROVIDER_CONCURRENCY, shared by all the tasks it serves). Calls
    in flight to a provider across the deployment are at most provider_concurrency times the
    instances serving its queue: about ceil(max_concurrent_dispatches / workers concurrency).
  EOT
  type = object({
    hf_endpoint          = optional(string, "https://huggingface.co")
    openrouter_base_url  = optional(string, "https://openrouter.ai/api/v1")
    provider_concurrency = optional(number, 64)
  })
  default  = {}
  nullable = false
}

variable "queues" {
  description = <<-EOT
    Cloud Tasks queues, one per provider family, so each queue's rate limits protect that
    provider's quota. The code enqueues by these names: keep every key; tune the numbers.
  EOT
  type = map(object({
    max_dispatches_per_second = optional(number, 5)
    max_concurrent_dispatches = optional(number, 10)
    max_attempts              = optional(number, 20)
    min_backoff               = optional(string, "5s")
    max_backoff               = optional(string, "600s")
    max_doublings             = optional(number, 5)
  }))
  default = {
    # Inference: one task is a chunk of up to 125 samples (RUN_CHUNK_SIZE), each a provider call.
    "inference-openrouter"  = { max_dispatches_per_second = 5, max_concurrent_dispatches = 20 }
    "inference-huggingface" = { max_dispatches_per_second = 2, max_concurrent_dispatches = 5 }
    "inference-custom"      = { max_dispatches_per_second = 2, max_concurrent_dispatches = 10 }
    "judge"                 = { max_dispatches_per_second = 5, max_concurrent_dispatches = 20 }
    # Finalize and consolidate: cheap, Firestore-only, and must eventually run.
    "control" = { max_dispatches_per_second = 10, max_concurrent_dispatches = 10, max_attempts = 100, min_backoff = "1s", max_backoff = "60s" }
  }
  nullable = false
  validation {
    condition = length(setsubtract(
      ["inference-openrouter", "inference-huggingface", "inference-custom", "judge", "control"],
      keys(var.queues),
    )) == 0
    error_message = "queues must keep inference-openrouter, inference-huggingface, inference-custom, judge and control: the code enqueues by these names."
  }
}

variable "scheduler" {
  description = "The Cloud Scheduler job that ticks the scheduler function."
  type = object({
    schedule  = optional(string, "* * * * *")
    time_zone = optional(string, "Etc/UTC")
    paused    = optional(bool, false)
  })
  default  = {}
  nullable = false
}

variable "load_balancer" {
  description = "External HTTPS load balancer in front of the public functions."
  type = object({
    # Self link of an existing Cloud Armor policy attached to every backend, if any.
    security_policy = optional(string)
    log_sample_rate = optional(number, 1)
  })
  default  = {}
  nullable = false
}
