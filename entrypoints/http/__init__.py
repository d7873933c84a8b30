"""The Litestar HTTP app: the chat API, live channels, health and the OpenAPI schema."""
