"""What both SQL stores share: named queries rendered per dialect (queries),
rows mapped to records by column name (rows), one migration runner (migrate)."""
