"""local: see the README's layout section."""
