"""ssl-fault-exporter: finds the certificate faults a cloud SSL troubleshooting guide documents."""

__version__ = "0.1.0"
