"""Per-bin products that are not one number (e.g. each bin's flux points): tables of one row per bin,
kept by name and written in every format as columns ``<name>_<column>`` of the result's table."""

import numpy as np
from astropy.table import Table

__all__ = ["PRODUCTS_KEY", "join_products", "split_products"]

PRODUCTS_KEY = "PRODUCTS"
"""Meta key of the result's table that lists its products, comma-separated."""

LEGACY_PRODUCTS = ("sed",)
"""Products of files written before `PRODUCTS_KEY` existed (found by their column prefix)."""


def join_products(table, products):
    """Add the products' columns to a result's table (``<name>_<column>``), in place.

    Parameters
    ----------
    table : `~astropy.table.Table`
        The result's table, one row per bin.
    products : dict of str to `~astropy.table.Table`
        The products, one row per bin.
    """
    for name, product in products.items():
        for column in product.colnames:
            table[f"{name}_{column}"] = product[column]
            table[f"{name}_{column}"].info.description = product[column].info.description
    if products:
        table.meta[PRODUCTS_KEY] = ",".join(products)


def split_products(table):
    """The products of a result's table, and the table without their columns.

    Parameters
    ----------
    table : `~astropy.table.Table`
        A table written by `join_products` (or before it existed, with ``sed_*`` columns).

    Returns
    -------
    products : dict of str to `~astropy.table.Table`
        The products by name.
    rest : `~astropy.table.Table`
        The other columns.
    """
    listed = table.meta.get(PRODUCTS_KEY)
    names = listed.split(",") if listed else [
        name for name in LEGACY_PRODUCTS if any(c.startswith(f"{name}_") for c in table.colnames)
    ]
    products, used = {}, []
    for name in names:
        columns = [c for c in table.colnames if c.startswith(f"{name}_")]
        product = Table()
        for column in columns:
            product[column[len(name) + 1:]] = table[column]
            product[column[len(name) + 1:]].info.description = table[column].info.description
        products[name] = product
        used += columns
    rest = table.copy(copy_data=False)
    rest.remove_columns(used)
    rest.meta.pop(PRODUCTS_KEY, None)
    for product in products.values():
        for column in product.colnames:
            if product[column].dtype.kind in "S":  # FITS booleans and strings come back as bytes
                product[column] = np.char.decode(product[column], "utf-8")
    return products, rest
