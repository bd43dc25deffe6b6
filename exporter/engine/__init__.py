"""One run of one target: probe context, runner (exceptions -> error kinds), results store."""
