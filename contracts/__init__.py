"""Pure domain: dataset schemas, job specifications, identities and result finalisation."""
