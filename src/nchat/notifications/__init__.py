"""Notifications: push devices, preferences, who is told about which message, delivery."""
