"""``workbench serve``: files arrive, sources load, downstream builds; late sources answered.

One long-lived process (``serve``) that

* uses the Prefect server at ``PREFECT_API_URL``, or the project's shared local server
  (``shared.py``: the one every run of the project reuses, started if need be, under a
  supervisor, ``supervisor.py``, that stops it when told or idle);
* registers the deployments declared in ``deploy.py``, which run the flows of ``flows.py``:

  - ``workbench-load/load-<source>@<project>``, one per source, triggered by the event
    ``workbench.file.arrived`` about resource ``workbench.source.<source>`` of this project
    (label ``workbench.project``: projects can share a server). It stages the new files
    outside the write lock (``loaders.stage``), then runs
    ``Workbench(root).run(select="loader:<source>")`` (the load only) and, when that loaded
    something, emits ``workbench.source.loaded`` (same resource; payload rows, files, run_id);
  - ``workbench-build-downstream/build-downstream@<project>``, triggered by any
    ``workbench.source.loaded`` of the project, the source taken from the event's resource.
    It runs ``Workbench(root).run(sources=[source])``: nothing new to load, so it builds
    exactly what that source's new data made stale;
  - ``workbench-freshness/check-freshness@<project>``, on an interval schedule: emits
    ``workbench.source.stale`` for each source that has just gone past its SLA;
  - ``workbench-answer-stale/answer-stale@<project>``, triggered by
    ``workbench.source.stale``: reload, notify or run, as ``on_stale`` says for that source;

* serves them (a Prefect ``Runner`` in this process; each flow run is a subprocess), or, with
  ``pool``, registers them on a process work pool for ``prefect worker`` processes to run;
* watches ``data/landing/`` (``watch.LandingWatcher``: file-system events, polling as the
  fallback), merges each source's arrivals into batches (``batches``) and emits one
  ``workbench.file.arrived`` per batch. Without a pool the load and build deployments carry
  no triggers: the serve process runs each batch itself as the ``workbench-arrival`` flow
  (stage, load, build downstream) in its warm project (``warm``: dbt parsed once);
* catches up from the warehouse's state (``catchup``): at start, every ``freshness_every``
  on a fixed anchor and soon after a failure, each source with files not loaded or data not
  built is run again (in this process, or with ``pool`` as deployment runs with an
  idempotency key, ``pooled``), so no lost event or killed run leaves a mart behind;
* keeps its record, ``.workbench/service.json`` (``record.py``), for ``workbench status``.

One module per job: ``events`` (names, resources, emitting), ``flows``, ``deploy``
(deployments, names, tags), ``batches`` (arrivals merged, a thread per source), ``warm``
(the serve process's Workbench), ``catchup`` and ``pooled`` (work left, from the ledger),
``logs`` (the workbench's lines in the UI), ``server`` (a Prefect server process), ``shared`` and
``supervisor`` (the shared local server), ``record`` (service.json),
``loop`` (the serve loop) and ``status`` (what the server is doing, for ``wb.server()``).
Importing this package imports no Prefect: only ``flows`` does, and it is imported once
``environment.prepare`` has given Prefect its home inside the project.
"""

from __future__ import annotations

from .deploy import deployment_name, deployments, project_tag
from .events import FILE_ARRIVED, SOURCE_LOADED, SOURCE_STALE, resource
from .loop import serve
from .record import ServiceRecord
from .server import LocalPrefectServer, free_port

__all__ = ["FILE_ARRIVED", "SOURCE_LOADED", "SOURCE_STALE", "LocalPrefectServer",
           "ServiceRecord", "deployment_name", "deployments", "free_port", "project_tag",
           "resource", "serve"]
