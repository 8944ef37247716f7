"""Test infrastructure: private servers for the test suite."""
