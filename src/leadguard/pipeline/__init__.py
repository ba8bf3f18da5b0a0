"""Pure compute: decode -> detect -> align -> embed. No storage, no CLI."""
