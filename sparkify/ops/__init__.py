"""Operations and the command line: the CLI, the demo, status, queries, preflight checks, the lease.

The top layer: it may import the jobs and everything below them, and nothing imports it. Nothing is
imported here, so ``import sparkify.ops.lease`` loads neither Spark nor GX.
"""
