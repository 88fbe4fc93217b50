"""A whole space on this machine: the demo and the local harness used by the demo, tests and benchmarks."""
