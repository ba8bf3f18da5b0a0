"""Vector indexes: one per embedding space, exact search by default."""
