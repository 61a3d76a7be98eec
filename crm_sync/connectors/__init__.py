"""Connectors to external CRMs: an interface and a generic HTTP implementation."""
