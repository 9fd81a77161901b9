"""libmird's Python package: the MMSA-pickle converter (mird.convert_mmsa)."""
