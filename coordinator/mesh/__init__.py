"""The Mesh API: hosts, GPUs, models and registration."""
