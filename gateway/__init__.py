"""The Hypercorn HTTP/2 entry of the mesh: routing, identity, SSE, docs, web UI."""
