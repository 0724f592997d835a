"""Code shared by the agent, the coordinator and meshctl: errors, names, content digests, pieces,
TLS and channels, configuration, tickets, the protobuf <-> dict translation, atomic file writes
(files) and how sizes and digests are shown (units)."""
