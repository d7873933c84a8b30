"""Ways in: the HTTP app, the CLI, the scheduler, the reference Agent Service, and the
composition root that wires adapters to use cases."""
