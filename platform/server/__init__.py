"""The web layer: FastAPI app, REST API per entity, sign-in, pages (an adapter on the engine)."""
