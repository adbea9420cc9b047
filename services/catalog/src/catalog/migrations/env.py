from catalog.tables import metadata
from servicekit.db import run_migrations

run_migrations(metadata)
