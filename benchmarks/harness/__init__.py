"""The benchmark harness of issue #14: five servers doing one fan-out workload, measured by a
compiled load generator that reports its own CPU, the server and the generator on separate
cores. ``python -m benchmarks.harness`` (``make bench``) or ``--full`` (``make bench-full``)."""
