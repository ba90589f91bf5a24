"""The codemods, in the order they run (later ones see what earlier ones wrote)."""
