"""Direct language models: the built-in echo model and OpenAI-compatible endpoints."""
