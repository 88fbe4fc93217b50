"""Run the ``dataspace-node`` command with ``python -m node``."""

from node.cli import main

main()
