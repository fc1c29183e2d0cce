"""persona_svc: Personas, community, conversations and character cards."""
