resource "google_firestore_database" "main" {
  project     = var.project_id
  name        = "(default)" # the client libraries and the emulator talk to (default)
  location_id = var.firestore.location_id
  type        = "FIRESTORE_NATIVE"

  point_in_time_recovery_enablement = var.firestore.point_in_time_recovery ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"
  delete_protection_state           = var.firestore.delete_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  # `terraform destroy` forgets the database instead of deleting it: the data outlives the stack.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.this]
}

# Composite indexes. Single-field indexes are automatic; a query that filters or orders on more
# than one field needs an entry here. The emulator does not enforce indexes, so the test suite
# cannot catch a missing one: when you add such a query in shared/repositories/, add its index
# here in the same change, with the repository method it serves.
locals {
  firestore_indexes = {
    # RunRepository.progress: count and sum(n) of a run's cells where state == "scored".
    cells_by_state = {
      collection  = "cells"
      query_scope = "COLLECTION"
      fields = [
        { field_path = "state", order = "ASCENDING" },
        { field_path = "n", order = "ASCENDING" },
      ]
    }
    # ReviewRepository.page: a leaderboard's review items of one status, in their shuffled
    # order. (Its other queries are equalities only, which Firestore serves by merging the
    # single-field indexes.)
    review_items_by_status = {
      collection  = "review_items"
      query_scope = "COLLECTION"
      fields = [
        { field_path = "status", order = "ASCENDING" },
        { field_path = "order_key", order = "ASCENDING" },
      ]
    }
    # ScheduleRepository.stalled_runs: runs of one status created before a cutoff, across
    # workspaces (collection group).
    runs_by_status_created = {
      collection  = "runs"
      query_scope = "COLLECTION_GROUP"
      fields = [
        { field_path = "status", order = "ASCENDING" },
        { field_path = "created_at", order = "ASCENDING" },
      ]
    }
    # EventRepository.page: a PUSH leaderboard's events, newest first (arrival order inside a
    # request breaks ties).
    events_by_arrival = {
      collection  = "events"
      query_scope = "COLLECTION"
      fields = [
        { field_path = "received_at", order = "DESCENDING" },
        { field_path = "seq", order = "DESCENDING" },
      ]
    }
    # PublicRepository.agents_page: agents in name order, filtered by organization and/or
    # verification (a name-prefix range is on the ordering field itself).
    public_agents_by_name = {
      collection  = "public_agents"
      query_scope = "COLLECTION"
      fields = [
        { field_path = "name_key", order = "ASCENDING" },
        { field_path = "id", order = "ASCENDING" },
      ]
    }
    public_agents_by_org_name = {
      collection  = "public_agents"
      query_scope = "COLLECTION"
      fields = [
        { field_path = "organization_key", order = "ASCENDING" },
        { field_path = "name_key", order = "ASCENDING" },
        { field_path = "id", order = "ASCENDING" },
      ]
    }
    public_agents_by_verified_name = {
      collection  = "public_agents"
      query_scope = "COLLECTION"
      fields = [
        { field_path = "is_verified", order = "ASCENDING" },
        { field_path = "name_key", order = "ASCENDING" },
        { field_path = "id", order = "ASCENDING" },
      ]
    }
    public_agents_by_org_verified_name = {
      collection  = "public_agents"
      query_scope = "COLLECTION"
      fields = [
        { field_path = "organization_key", order = "ASCENDING" },
        { field_path = "is_verified", order = "ASCENDING" },
        { field_path = "name_key", order = "ASCENDING" },
        { field_path = "id", order = "ASCENDING" },
      ]
    }
    # PublicRepository.results_page: a workspace's published results, newest first.
    public_results_by_workspace = {
      collection  = "public_results"
      query_scope = "COLLECTION"
      fields = [
        { field_path = "workspace_id", order = "ASCENDING" },
        { field_path = "published_at", order = "DESCENDING" },
      ]
    }
  }
}

# ScheduleRepository.timers_due: consolidation by hours (push_due_at), the new_data trigger's
# checks (data_check_at) and the model_version trigger's (version_check_at) across workspaces,
# like next_scheduled_at below.
resource "google_firestore_field" "leaderboards_timers" {
  for_each = toset(["push_due_at", "data_check_at", "version_check_at"])

  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = "leaderboards"
  field      = each.key

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION"
    }
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }
}

# PublicRepository.find_run: a run by its id across leaderboards (publishing names only the
# run), an equality at collection-group scope, which Firestore does not index by default.
resource "google_firestore_field" "runs_id" {
  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = "runs"
  field      = "id"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION"
    }
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }
}

# ScheduleRepository.due_leaderboards: a range on next_scheduled_at across workspaces needs the
# single-field index at collection-group scope, which Firestore does not create by default.
resource "google_firestore_field" "leaderboards_next_scheduled_at" {
  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = "leaderboards"
  field      = "next_scheduled_at"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION"
    }
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }
}

# The response cache expires by TTL: Firestore deletes entries after expires_at (RunRepository
# also ignores expired ones, since TTL deletion can lag by a day).
resource "google_firestore_field" "response_cache_ttl" {
  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = "response_cache"
  field      = "expires_at"

  ttl_config {}
  # No single-field index on a TTL timestamp: it would only cost writes.
  index_config {}
}

resource "google_firestore_index" "this" {
  for_each = local.firestore_indexes

  project     = var.project_id
  database    = google_firestore_database.main.name
  collection  = each.value.collection
  query_scope = each.value.query_scope

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value.field_path
      order      = fields.value.order
    }
  }
}
