"""Reflex pages, one module per route."""
