"""Factory node agent: keeps data at home, computes locally, dials out to the coordinator."""
