"""The live API surface: the WebSocket at /api/ws and presence reads. It sits above `auth`
and the features, as the REST routers and GraphQL do; `realtime/` below it carries events."""
