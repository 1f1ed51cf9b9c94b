"""The training engine. Pure Python + torch: no Qt import anywhere in this package."""
