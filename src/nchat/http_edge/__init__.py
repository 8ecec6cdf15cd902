"""What every request meets before a route: body limits, security headers, CORS and the
WebSocket origin check (decision 0026)."""
