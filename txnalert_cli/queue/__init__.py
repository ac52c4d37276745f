"""queue: see the README's layout section."""
