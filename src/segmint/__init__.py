"""segmint: an open-source customer segmentation engine.

The package is laid out by domain; reading the folder names in order gives
the data flow (see ARCHITECTURE.md):

    config -> ingest -> store -> identity -> segments / traits -> learn / models / quality -> server / cli
"""

__version__ = "0.1.0"
