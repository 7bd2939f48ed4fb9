"""The indexing and search services shared by the API, the CLI, eval and the workers."""
