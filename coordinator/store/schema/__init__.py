"""The schema of each SQL dialect, as append-only lists of versioned migrations."""
