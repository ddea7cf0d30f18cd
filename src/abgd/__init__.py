"""abgd: the AcousticBrainz Genre Dataset study as a reproducible workflow."""

__version__ = "0.1.0"
