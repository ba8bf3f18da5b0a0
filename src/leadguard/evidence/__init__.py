"""What a score is worth for the gallery actually searched.

Pure functions over a measured non-mated score distribution: the false match rate at a
score with its interval, the chance matches expected in a gallery of N, and the threshold
that keeps the false-positive identification rate at a target for a gallery of N.
"""
