"""Parts of benchmarks/live_agent_relay.py: the upstream emitter, the bare relay, the server
launcher and the clients. Run the parts that are processes as scripts from the repository root."""
