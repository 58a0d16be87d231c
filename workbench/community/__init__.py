"""The sample company's Python steps and actions: the embedded default's community pipeline.

``classify``: label community messages (question / feedback / bug / praise / other).
``messages``: personalised messages to users, delivered idempotently (``delivery``).
``export``: write a mart to Parquet/CSV under data/exports/, atomically.
"""
