"""Local stand-ins for services unreachable from here (Microsoft, Google), on 127.0.0.1."""
