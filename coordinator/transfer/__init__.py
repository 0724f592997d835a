"""The Transfers API: pull jobs planned here, bytes moved agent to agent."""
