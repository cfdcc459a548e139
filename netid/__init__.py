"""NetID: privacy-preserving identity verification.

Read an ID card chip once over NFC; an issuer mints a pseudonymous network number and device-bound
network certificates; relying parties verify yes/no answers without ever seeing the ID number.
"""

__version__ = "0.1.0"
