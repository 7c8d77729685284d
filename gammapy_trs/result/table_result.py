"""`TableResult`: a result held in one table with its meta data, written and read as checked ECSV."""

__all__ = ["TableResult"]


class TableResult:
    """A result held in one `~astropy.table.Table` (its rows and meta data): copied out by
    `to_table`, written and read as ECSV with its checksum (`write`, `read`).

    Parameters
    ----------
    table : `~astropy.table.Table`
        The table.
    """

    def __init__(self, table):
        self.table = table

    def __len__(self):
        return len(self.table)

    def to_table(self):
        """The result as a table (a copy of `table`).

        Returns
        -------
        table : `~astropy.table.Table`
            The table.
        """
        return self.table.copy()

    def write(self, filename, overwrite=False):
        """Write the table (ECSV, with its checksum, atomically).

        Parameters
        ----------
        filename : str or `~pathlib.Path`
            File.
        overwrite : bool, optional
            Overwrite an existing file. Default is False.
        """
        from .formats.ecsv import write_table_file

        write_table_file(self.table, filename, overwrite=overwrite)

    @classmethod
    def read(cls, filename):
        """Read a file written by `write` (its checksum verified).

        Parameters
        ----------
        filename : str or `~pathlib.Path`
            File.

        Returns
        -------
        result : `TableResult`
            The result.
        """
        from .formats.ecsv import read_checked_ecsv

        return cls(read_checked_ecsv(filename))
