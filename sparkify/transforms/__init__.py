"""Pure transforms, one table a module: DataFrame in, DataFrame out, no I/O."""
