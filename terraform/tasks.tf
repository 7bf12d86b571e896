# One queue per provider family, so each queue's rate limits protect that provider's quota, plus
# judge (LLM judging) and control (finalize, consolidate). The code enqueues by these names.
# A deleted queue's name cannot be reused for about a week: rename with care.

resource "google_cloud_tasks_queue" "this" {
  for_each = var.queues

  project  = var.project_id
  location = var.region
  name     = each.key

  rate_limits {
    max_dispatches_per_second = each.value.max_dispatches_per_second
    max_concurrent_dispatches = each.value.max_concurrent_dispatches
  }

  # Workers answer 503 (with Retry-After when known) for a transient provider failure, and
  # acknowledge permanent ones: only the transient kind is retried, with backoff.
  retry_config {
    max_attempts  = each.value.max_attempts
    min_backoff   = each.value.min_backoff
    max_backoff   = each.value.max_backoff
    max_doublings = each.value.max_doublings
  }

  depends_on = [google_project_service.this]
}
