"""The Catalog API: semver, lifecycle, aliases, lineage, metrics, search, import and export."""
