"""Application logic the gateway and the server share: jobs, contracting, datasets."""
