"""The long-running Structured Streaming job: watched prefixes → the shared batch step, exactly once."""
