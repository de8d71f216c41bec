"""The ``etl`` command: its commands (cli), shared options (options), what the terminal shows
(terminal), coverage rendered (report). The library never imports this package."""
