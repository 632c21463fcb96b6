"""Tests of the reference implementation (reference/canaux), one folder per package.

A package, so that its folders are named reference.client, reference.server, ... and cannot clash
with a folder of the same name elsewhere under tests/ (tests/conformance/client is the suite's).
"""
