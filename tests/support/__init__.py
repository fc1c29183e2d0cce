"""Real infrastructure for tests: nats-server from the wheel, PostgreSQL, the mesh in-process."""
