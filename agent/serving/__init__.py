"""Serving on this agent: supervised llama.cpp servers, Ollama through its HTTP API, and the
deployment commands the coordinator sends."""
