"""Test-time helpers shared by test modules (never shipped weights: everything is made on the fly)."""
