"""The product's directory catalog: its file format, the compiler from catalog entries
to submission plans, and the importer that keeps the ``directories`` table in step."""

from directorybolt.catalog.compiler import CompileError, compile_entry, compile_plan, translate_selector
from directorybolt.catalog.importer import (
    ImportReport,
    analyse,
    import_catalog,
    list_directories,
    save_plan,
    stored_plan,
)
from directorybolt.catalog.schema import CatalogEntry

__all__ = [
    "CatalogEntry",
    "CompileError",
    "ImportReport",
    "analyse",
    "compile_entry",
    "compile_plan",
    "import_catalog",
    "list_directories",
    "save_plan",
    "stored_plan",
    "translate_selector",
]
