"""spren's engine: a plain library for books, stats and generation (no platform or DB code)."""
