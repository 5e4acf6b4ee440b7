"""``wafsiem demo``: the whole story on the local stack, one command (see docs/demo.md)."""
