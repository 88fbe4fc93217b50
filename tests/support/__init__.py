"""Programs the tests run in place of the real ones: a dishonest coordinator, a node that dies on cue."""
