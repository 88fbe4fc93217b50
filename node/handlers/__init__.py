"""Handlers of the coordinator's messages, one module per concern: jobs, witnessing, negotiation."""

from __future__ import annotations

import asyncio

from proto.dataspace.v1 import node_service_pb2 as pb

# What a handler sends back; the agent's pump writes it to the stream, and None ends the pump.
Outbox = asyncio.Queue[pb.NodeMessage | None]
