"""generation_worker: JetStream consumers doing the AI and media work."""
