"""Message filters evaluated on the broker's pull path (no I/O)."""
