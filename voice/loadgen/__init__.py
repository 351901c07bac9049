"""Synthetic WebRTC callers built from our own layers, for tests and the load benchmark."""
