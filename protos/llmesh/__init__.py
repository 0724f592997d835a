"""llmesh: track, move, convert and serve LLMs across a small fleet of machines."""

__version__ = "0.1.0"
