"""Record-level releases: declared by offers, granted by contracts, built by nodes, checked at release.

Modules, bottom up: ``exceptions``; ``terms`` (an offer's declaration, imported by ``contracts.offers``);
``grant`` (the contract's copy, from the offers); ``build`` (the node's extract, a pure function);
``release`` (the coordinator's checks and merge). Nothing is re-exported here, so ``contracts.offers`` can
import ``terms`` without pulling in the offers it describes.
"""
