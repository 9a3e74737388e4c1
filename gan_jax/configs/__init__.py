"""Config schema: `base.get_config()` holds every field with its default."""
