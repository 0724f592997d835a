"""The llmesh agent: runs on each machine and reports to the coordinator."""
