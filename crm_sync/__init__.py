"""The CRM side of ctihub: customers, contracts, case files, the call log, caller matching.

- ``models`` / ``migrations``: the schema (SQLAlchemy 2, Alembic; SQLite WAL or PostgreSQL).
- ``db``: engine, sessions, and commit notifications that keep lookup caches right.
- ``phones`` / ``matching``: number normalisation and ``CallerDirectory.lookup``.
- ``tracking_codes`` / ``cases`` / ``customers``: case files and customer edits.
- ``call_log`` / ``spool``: one record per ``CallEnded``, spooled through outages.
- ``csv_io``: import and export; ``connectors``: external CRMs over HTTP and webhooks.
- ``commands``: what ``ctihub db|import|export`` and the demo call; ``runtime``: the wiring.
"""
