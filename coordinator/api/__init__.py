"""FastAPI gateway: REST API under /api/v1 for operators, buyers and enrolling participants."""
