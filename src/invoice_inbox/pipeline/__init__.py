"""Pure functions on message bytes: parse, sniff, match senders, decide. No I/O, no database."""
