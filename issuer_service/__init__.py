"""The NetID issuer service: enrollment, network numbers, netcert batches over OpenID4VCI, RP registry."""
