# The heartbeat: every minute the scheduler function starts due runs and re-enqueues stalled work.

resource "google_cloud_scheduler_job" "tick" {
  project     = var.project_id
  region      = var.region
  name        = "${var.name_prefix}-tick"
  description = "Podium scheduler tick: cron schedules, cadences, stalled work."
  schedule    = var.scheduler.schedule
  time_zone   = var.scheduler.time_zone
  paused      = var.scheduler.paused
  # As long as the scheduler function may run.
  attempt_deadline = "${local.function_config["scheduler"].timeout_seconds}s"

  # The next tick is at most a minute away; a retry would only overlap it.
  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "${google_cloud_run_v2_service.function["scheduler"].uri}/tasks/tick"
    headers = {
      "Content-Type" = "application/json"
    }
    body = base64encode("{}")

    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = google_cloud_run_v2_service.function["scheduler"].uri
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.task_invoker]
}
