"""Electron-phonon work chains: α²F, λ, ω_log and Tc with Quantum ESPRESSO (``hydrides.epc``)."""
