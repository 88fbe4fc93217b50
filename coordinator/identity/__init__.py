"""Who is who: the operator CA, the coordinator's key material, and enrollment of participants."""
