"""spren's async bot process: config, database, dispatcher, queue and platform adapters."""
