"""Structure-search work chains: the search of a system (``hydrides.search.system``)."""
