"""meshctl: the command line over meshcore.client (thin: no logic of its own)."""
