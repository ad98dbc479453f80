"""Reflex states, one module per page plus the shared auth state."""
