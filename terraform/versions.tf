# Thin root: the toolchain pins and the one provider configuration.

terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source = "hashicorp/google"
      # 6.18 added google_cloud_run_v2_service's build_config; 6.27 fixed its perma-diff on
      # unchanged template.containers.env (CHANGELOG.md), which would redeploy on every apply.
      version = "~> 6.27"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
