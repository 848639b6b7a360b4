"""psoas-audio."""
