"""Protocol buffers of the dataspace.v1 API and their committed generated stubs."""
