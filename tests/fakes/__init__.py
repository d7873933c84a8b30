"""Hand-written in-memory fakes of the application's ports.

The repository fakes run the same contract tests as the SQL adapters
(tests/integration/test_repositories.py) so the two cannot drift. For LiveEvents the in-process
adapter is itself in memory and is used as is.
"""
