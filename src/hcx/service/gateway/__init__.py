"""The WebSocket gateway: connections, sessions, subscriptions and fan-out."""
