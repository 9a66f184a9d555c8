"""The service catalog kept as data in the repository: loading, checking and comparing it.

`load_catalog()` reads `hub/catalog/data/` (or another directory) and returns a checked
`protocols.catalog.Catalog`; `cunban catalog check|show|diff` is the maintainers' tool.
"""

from hub.catalog.loader import DATA_DIR, load_catalog
from protocols.catalog import Catalog, CatalogError, CatalogSnapshot, diff

__all__ = ["DATA_DIR", "Catalog", "CatalogError", "CatalogSnapshot", "diff", "load_catalog"]
