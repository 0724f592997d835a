"""llmesh: track, move, convert and serve LLMs across a small fleet of machines."""

__version__ = "0.1.0"
# The wire protocol (major, minor), apart from the release: a coordinator serves agents and
# clients of its own major at any minor (a newer minor only adds fields it may ignore) and
# refuses another major at hello. Bump the minor for additions, the major for a break.
PROTOCOL = (1, 0)
