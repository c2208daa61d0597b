"""Pages and htmx fragments for people in a browser."""
