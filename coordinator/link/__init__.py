"""The AgentLink API: each agent's one open stream, and the hub of open links."""
