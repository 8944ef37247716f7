"""Handing documents on: the export folder (webhooks and the outbox come later)."""
