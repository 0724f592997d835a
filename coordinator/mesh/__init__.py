"""The Mesh API: hosts, GPUs, and the models the agents found."""
