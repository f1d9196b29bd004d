"""Grade a class on a Dask distributed cluster (``grade --scheduler`` / ``--cluster local:N``).

One module per job: ``blobs`` (content-addressed bytes and their staging on a worker), ``spec``
(what a task carries besides bytes), ``task`` (the worker side: kits built and verified there,
the worker's own sandbox, the same per-submission function as local threads), ``plugin`` (worker
lifecycle), ``resources`` (GPU and other worker resources a run asks for), ``cluster``
(connecting, pre-flight checks), ``client`` (submitting, streaming results into the cache) and
``report`` (per-worker throughput).

Nothing here is imported by ``precheck`` or local grading: ``dask[distributed]`` is the optional
``nlpgrade[cluster]`` extra and is imported only when a cluster is asked for.
"""
