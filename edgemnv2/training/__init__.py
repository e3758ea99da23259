"""Training helpers (host side, torch): losses and SSD target matching."""
