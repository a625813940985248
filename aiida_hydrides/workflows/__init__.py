"""WorkChains of aiida-hydrides."""

from aiida_hydrides import sqlite as _sqlite

_sqlite.install()  # daemon workers and `verdi run` scripts load the work chains from here
