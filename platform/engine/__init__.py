"""The metadata engine: documents, field types, tables, catalog, migrations, records."""
