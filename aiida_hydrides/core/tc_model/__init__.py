"""The Tc model: a DeePMD property model of Tc fine-tuned from a LAM, its datasets, evaluation and the two-stage
selection of candidates for electron-phonon calculations. Pure Python: never imports AiiDA."""
