"""Ports: one small Protocol per role the use cases need. Adapters subclass them explicitly."""
