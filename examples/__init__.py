"""Applications built on Canaux, each tested end to end (tests/examples/)."""
