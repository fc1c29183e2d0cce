"""Every message on the bus and every API body, as msgspec Structs."""
