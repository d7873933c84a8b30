"""In-process adapters: the embedded default when one instance serves everyone."""
