"""The sample company's app: the embedded default project's community pipeline and its data.

``classify``: label community messages (question / feedback / bug / praise / other).
``messages``: personalised messages to users, sent once each through ``workbench.delivery``.
``export``: write a mart to Parquet/CSV under data/exports/, atomically.
``demo``: the sample company's data generator (``workbench demo-data``).
``labels``: the message labels the classifier predicts and the generator writes.
``schema``: the sample's own tables, in schema ``_community``.

The core never imports this package; it runs the steps and actions named in workbench.toml.
"""
