"""Agent-to-agent transfers: the destination's pull, and the Peer service other agents read from."""
