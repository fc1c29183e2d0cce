"""The service kit every component uses: app factory, bridge, bus, health, errors."""
