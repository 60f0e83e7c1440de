"""The REST API (FastAPI): app.py builds it, auth.py checks bearer tokens and roles,
tokens.py keeps the tokens, and one module per resource holds its routes."""
