"""Serving on this agent: a generic process supervisor, llama.cpp servers run by it, Ollama
through its HTTP API, and the deployment commands the coordinator sends."""
