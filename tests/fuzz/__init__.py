"""Fuzz targets (hypothesis) of decoding, the engine and the outputs."""
