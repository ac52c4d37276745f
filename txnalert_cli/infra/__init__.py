"""infra: see the README's layout section."""
