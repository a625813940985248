"""Pure-Python core of aiida-hydrides: chemistry, descriptors, hull, superconductivity, LAM and search engines.

Nothing in this package imports AiiDA, so it can run anywhere (a cluster node, a notebook, a worker process).
"""
