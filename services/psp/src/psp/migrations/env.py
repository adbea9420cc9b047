from psp.tables import metadata
from servicekit.db.migrations import run_migrations

run_migrations(metadata)
