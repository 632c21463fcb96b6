"""Client conformance cases, one module per area; each registers with ``client_case``."""
