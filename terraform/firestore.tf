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
    # Leaderboards of one workspace, newest first, queried across workspaces (collection group).
    # Today LeaderboardRepository.page reads workspaces/{ws}/leaderboards ordered by created_at
    # alone, which the automatic single-field index serves; this entry is for a collection-group
    # query on workspace_id (platform admin, public listings). Drop it if none ever appears.
    leaderboards_by_workspace_created = {
      collection  = "leaderboards"
      query_scope = "COLLECTION_GROUP"
      fields = [
        { field_path = "workspace_id", order = "ASCENDING" },
        { field_path = "created_at", order = "DESCENDING" },
      ]
    }
  }
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
