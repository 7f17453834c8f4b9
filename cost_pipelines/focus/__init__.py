"""FOCUS 1.0 billing exports (AWS, Azure, GCP, OCI can all emit them). Imports no Dagster."""
