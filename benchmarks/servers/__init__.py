"""The comparison servers of the harness (the reference server is started with ``canaux serve``)."""
