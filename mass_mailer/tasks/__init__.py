"""The Dramatiq broker and actors."""
