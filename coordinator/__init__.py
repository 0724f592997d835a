"""The llmesh coordinator: registry, agent links, the Mesh API."""
