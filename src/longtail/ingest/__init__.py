"""Loading files that follow the data contract: read, map, validate, reject, store."""
