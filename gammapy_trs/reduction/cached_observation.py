"""Observations that read their IRFs and events once, each file opened once.

Gammapy's `~gammapy.data.Observation` reads its IRFs and events from FITS at
every access, and each read opens the file again and parses the headers of all
the HDUs before the one it needs. Here, while an observation is prepared, its
files stay open and every HDU is read once, by the same Gammapy readers.
"""

import copy
import gzip
import io
import logging
from astropy.io import fits
from gammapy.data import GTI, ObservationMetaData
from gammapy.data.io import EventListReader
from gammapy.irf import IRF_REGISTRY
from gammapy.utils.fits import LazyFitsData
from ..utils.gammapy_internals import (
    as_subclass_copy,
    lazy_hdu_location,
    load_events_and_gti,
    observation_subclass,
    set_lazy_value,
    share_meta_and_gti,
)

__all__ = ["CachedObservation", "light_and_loaded_copies", "open_fits"]

log = logging.getLogger(__name__)

IRF_TAGS = {cls.tag for cls in IRF_REGISTRY}


GZIP_MAGIC = b"\x1f\x8b"


def open_fits(path):
    """A FITS file opened to read several of its HDUs; a gzip-compressed file is decompressed once.

    Astropy reads a gzip-compressed file through a stream that can only be read forwards: each
    HDU read before one already read (Gammapy reads the events, then the effective area and the
    PSF, then the energy dispersion) decompresses the file again from its start. A DL3 file of a
    run is a few megabytes once decompressed: here it is decompressed into memory once.
    """
    with open(path, "rb") as f:
        head = f.read(2)
        if head != GZIP_MAGIC:
            return fits.open(path, memmap=False)
        f.seek(0)
        return fits.open(io.BytesIO(gzip.decompress(f.read())), memmap=False)


def read_hdu(hdulist, location):
    """Read one HDU of an open file as `~gammapy.utils.fits.HDULocation.load` does.

    Raises KeyError if the HDU is missing, as Gammapy's readers do.
    """
    name, hdu_class = location.hdu_name, location.hdu_class
    if hdu_class == "events":
        return EventListReader.from_gadf_hdu(hdulist[name])
    if hdu_class == "gti":
        return GTI.from_table_hdu(hdulist[name])
    if hdu_class == "observation_metadata":
        return ObservationMetaData.from_header(hdulist[name].header)
    if hdu_class in IRF_TAGS:
        return IRF_REGISTRY.get_cls(hdu_class).from_hdulist(hdulist, hdu=name)
    return location.load()


class OpenFileData(LazyFitsData):
    """Lazy FITS data, cached, read from the files its observation keeps open.

    Outside `CachedObservation.open_files` it reads as Gammapy does.
    """

    def __get__(self, instance, objtype):
        if instance is None:
            return self
        try:
            return instance.__dict__[self.name]
        except KeyError:
            pass
        location = lazy_hdu_location(instance, self.name)
        files = instance.__dict__.get("_open_files")
        try:
            if files is None:
                value = location.load()
            else:
                path = str(location.path())
                if path not in files:
                    files[path] = open_fits(path)
                value = read_hdu(files[path], location)
        except KeyError:
            value = None
            log.warning(f"HDU '{location.hdu_name}' not found")
        set_lazy_value(instance, self.name, value)
        return value


def _open_files(self):
    """Keep the files open, so that each is opened once, until `close_files`."""
    self.__dict__.setdefault("_open_files", {})


def _close_files(self):
    """Close the files opened since `open_files`."""
    for hdulist in self.__dict__.pop("_open_files", {}).values():
        hdulist.close()


CachedObservation = observation_subclass(
    "CachedObservation",
    OpenFileData,
    dict(
        __doc__="An observation that keeps its IRFs and events once read.",
        __module__=__name__,
        open_files=_open_files,
        close_files=_close_files,
    ),
)


def light_and_loaded_copies(observation):
    """Two shallow copies of an observation that share its meta data and GTI.

    Parameters
    ----------
    observation : `~gammapy.data.Observation`
        Observation, not changed.

    Returns
    -------
    light : `~gammapy.data.Observation`
        Copy with only the meta data and GTI read: cheap to cut in time.
    loaded : `CachedObservation`
        Copy that reads its IRFs and events once, with its files open until
        ``loaded.close_files()``.
    """
    loaded = as_subclass_copy(observation, CachedObservation)
    loaded.open_files()
    load_events_and_gti(loaded)  # the events file is the GTI's and meta data's
    light = copy.copy(observation)
    share_meta_and_gti(light, loaded)
    return light, loaded
