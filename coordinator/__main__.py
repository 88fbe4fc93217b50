"""Run the ``dataspace`` command with ``python -m coordinator``."""

from coordinator.client.cli import main

main()
