"""Coordinator: node gRPC service, job orchestration, persistence, gateway and operator CA."""
