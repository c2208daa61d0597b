"""Pydantic shapes of the JSON API (and only of the API), one module per resource.

Each module mirrors the route module of `app/api/` that speaks it, and keeps every
model's example beside the model. Import from the module itself; nothing is
re-exported here.
"""
