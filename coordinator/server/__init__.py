"""The operator's server: gRPC node service, job runs, orchestration, node sessions, witnesses, serve."""
