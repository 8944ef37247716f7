"""Credentials: secrets encrypted at rest (and, later, OAuth2 tokens and their refresh)."""
