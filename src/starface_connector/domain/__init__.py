"""The rules of the connector: pure functions over plain data, no I/O."""
