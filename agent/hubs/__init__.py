"""Models from and to the hubs: OCI/Ollama registries (the distribution protocol) and Hugging Face."""
