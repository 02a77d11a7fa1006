"""The engine: a cell's spec, its training loop, scoring, protocols, archsets and random streams."""
