"""Tests of the specification (spec/*.md) and its tooling."""
