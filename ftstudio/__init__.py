"""ftstudio: a desktop fine-tuning studio."""
__version__ = "0.1.0"
