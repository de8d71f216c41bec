"""The SQLite store: its tables (store), the file and the lock beside it (storefile), and the worker
processes that read it while the parent alone writes (workers)."""
