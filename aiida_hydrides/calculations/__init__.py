"""CalcJobs of aiida-hydrides."""
