"""LAM work chains: concurrent learning of an ensemble of DeePMD models (model deviation, DFT labels, retraining)."""
