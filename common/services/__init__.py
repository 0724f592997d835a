"""Running llmesh as a service of the host's own manager: a ServiceSpec (spec.py) rendered as
a systemd unit, a launchd plist or a WinSW XML, and installed, queried and removed (manager.py)."""
