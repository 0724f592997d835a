"""What this agent holds: the scanner of its roots (scanner: hashing and inspect; walk: finding
models), model layouts and formats, GGUF headers, the hash cache, and the holdings by digest."""
