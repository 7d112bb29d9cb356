"""Helpers below every other layer: atomic files, devices, the one config rule (imports only errors)."""
