"""Server-sent events framing, shared by the adapters that read event streams over HTTP."""
