"""Exports a graph (with trained or fresh weights) for deployment, and proves each export right."""
