"""The filter cascade over search minima (``hydrides.screen``)."""
