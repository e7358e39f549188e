"""Fault injection: real workers killed, frozen and restarted while input streams in."""
