"""meshctl: the command line over llmesh.sdk.client (thin: no logic of its own)."""
