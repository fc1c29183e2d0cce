"""auth_svc: Accounts, sign-in, tokens, sessions and API keys."""
