"""Run the ``dataspace`` command with ``python -m coordinator``."""

from coordinator.cli import main

main()
