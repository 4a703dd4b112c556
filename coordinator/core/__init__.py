"""The core: decides scheduling, leases, fencing, select and waits.

It imports no gRPC, protobuf, psycopg or sqlite3 (checked by import-linter):
the API translates into it, the stores persist for it through `ports.Store`.
"""
