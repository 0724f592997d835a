"""What this agent holds: the scanner of its roots, model layouts and formats, the hash cache,
and the holdings by digest."""
