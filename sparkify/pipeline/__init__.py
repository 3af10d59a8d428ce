"""The batch step both jobs share: parse and route, quarantine, stage, merge, record, recover.

Imports ``expectations/`` and the core below it; the jobs (``batch_backfill/``, ``streaming/``) and
``sparkify/ops/`` import it. Nothing is imported here, so ``import sparkify.pipeline`` loads no GX.
"""
