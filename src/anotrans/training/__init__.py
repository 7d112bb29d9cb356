"""Training: losses (Eq. 5-8), one update per batch (steps), the epoch loop, run files (checkpoint)."""
