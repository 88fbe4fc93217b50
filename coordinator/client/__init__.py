"""The gateway's Python client (the buyer SDK) and the ``dataspace`` command; imports no server code."""
