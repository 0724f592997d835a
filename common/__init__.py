"""Code shared by the agent, the coordinator and meshctl: errors, names, content digests, pieces,
TLS and channels, configuration, tickets, and the protobuf <-> dict translation."""
