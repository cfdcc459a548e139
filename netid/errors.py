"""The NetID exception tree.

Every error the SDK raises on purpose derives from :class:`NetIDError`. The split follows h11: a
*remote* party sending garbage (a card, a wallet, a token) is distinguished from a *local* misuse of the
API, so callers can tell "reject this input" from "fix your code".

Parsers of untrusted bytes (APDUs, TLV, MRZ, data groups, SOD, JWTs, requests) raise only
:class:`ParseError` for malformed input; nothing else escapes them.
"""

from __future__ import annotations


class NetIDError(Exception):
    """Base class of every error NetID raises on purpose."""


class UsageError(NetIDError, ValueError):
    """The caller misused the API (bad argument, wrong state). A bug in the calling code."""


class ParseError(NetIDError, ValueError):
    """Untrusted input was malformed: truncated, over-long, wrongly tagged or out of range.

    ``what`` names the structure being parsed (e.g. ``"BER-TLV"``, ``"DG1"``, ``"EF.SOD"``) so a log
    line says where the input broke without echoing the input itself.
    """

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.what = what
        self.reason = reason


# --- card layer ---------------------------------------------------------------------------------


class CardError(NetIDError):
    """Anything that went wrong talking to an ID card chip."""


class ReaderError(CardError):
    """The reader or its transport failed (no reader, driver error, protocol error on the link)."""


class NoReaderError(ReaderError):
    """No reader is attached or the named reader does not exist."""


class NoCardError(ReaderError):
    """No card was presented to the reader within the wait time."""


class TagLostError(ReaderError):
    """The card left the field (or was pulled) in the middle of an exchange. Hold the card still."""


class CardTimeoutError(ReaderError):
    """The card did not answer in time."""


class MissingBackendError(ReaderError):
    """The backend's optional package is not installed; ``install`` is the command that provides it."""

    def __init__(self, kind: str, install: str | None) -> None:
        super().__init__(f"missing package for the {kind} backend: {install or 'not installable'}")
        self.kind = kind
        self.install = install


class CardStatusError(CardError):
    """The card answered with an error status word (ISO 7816-4 §5.6)."""

    #: status word this class stands for, or ``None`` for a family/unknown one
    sw: int | None = None

    def __init__(self, sw: int, message: str | None = None) -> None:
        self.sw = sw
        super().__init__(message or f"card returned status {sw:04X}")


class SecureMessagingError(CardError):
    """A secure-messaging response failed its MAC check or was malformed: the channel is broken."""


class AccessControlError(CardError):
    """BAC or PACE failed: the access key (MRZ data or CAN) is wrong or the chip refused."""


class PassiveAuthenticationError(CardError):
    """Passive authentication failed.

    ``check`` is a stable code naming the failed step (``"sod_signature"``, ``"ds_chain"``,
    ``"ds_validity"``, ``"dg_hash"``, ``"dg_missing"``, ``"algorithm"``); ``data_group`` names the
    data group for hash failures (e.g. ``"DG11"``).
    """

    def __init__(self, check: str, message: str, data_group: str | None = None) -> None:
        super().__init__(message)
        self.check = check
        self.data_group = data_group


class ActiveAuthenticationError(CardError):
    """Active authentication failed: the chip could not prove it holds the DG15 key (possible clone)."""


# --- credentials and verification -----------------------------------------------------------------


class NetnoError(NetIDError, ValueError):
    """A network number is malformed or its check character does not match."""


class CredentialError(NetIDError):
    """An SD-JWT / netcert could not be issued, presented or processed."""


class VerificationError(NetIDError):
    """A presentation failed verification.

    ``code`` is stable and machine-readable (e.g. ``"issuer_signature"``, ``"nonce_reused"``); the
    message is for humans and never contains claim values. ``str()`` is ``"<code>: <message>"``;
    :attr:`message` is the message alone (to wrap it without repeating the code).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


#: The stable :attr:`VerificationError.code` values. Callers may match on these; they never change meaning.
VERIFICATION_CODES: tuple[str, ...] = (
    # --- SD-JWT (netid.credentials.sdjwt.verify) ---
    "malformed",  # the presentation or issuer JWT / KB-JWT is not well-formed (split, base64url, JSON)
    "algorithm",  # a JWS 'alg' is missing or outside the allow-list ('none', HS*, …)
    "issuer_key",  # no usable issuer key for this token (unknown kid/issuer, wrong key type or purpose)
    "jwks_unavailable",  # the issuer's key set could not be obtained at all (an outage, not a forgery)
    "issuer_signature",  # the issuer-signed JWT's signature does not verify
    "typ",  # the issuer JWT's 'typ' header is not the expected one
    "sd_alg",  # '_sd_alg' is present and not 'sha-256'
    "expired",  # 'exp' is in the past (beyond leeway)
    "not_yet_valid",  # 'nbf' is in the future (beyond leeway)
    "issued_in_future",  # the issuer JWT's 'iat' is in the future (beyond leeway)
    "kb_missing",  # key binding is required and no KB-JWT was presented
    "kb_typ",  # the KB-JWT's 'typ' is not 'kb+jwt'
    "kb_signature",  # the KB-JWT's signature does not verify under the holder key (or its alg is refused)
    "holder_key",  # the credential has no usable 'cnf.jwk' (missing, malformed, unsupported)
    "aud",  # the KB-JWT's 'aud' is not the expected audience
    "nonce",  # the KB-JWT's 'nonce' is not the expected nonce
    "kb_iat",  # the KB-JWT's 'iat' is missing, in the future, or older than the allowed age
    "sd_hash",  # the KB-JWT's 'sd_hash' does not match the presented SD-JWT
    "disclosure_malformed",  # a disclosure is not valid (base64url, JSON array, reserved name, wrong place)
    "disclosure_unreferenced",  # a disclosure's digest is not referenced by the payload or another disclosure
    "disclosure_duplicate",  # the same disclosure (digest) was presented more than once
    "digest_duplicate",  # a digest appears more than once in the payload and disclosures
    "array_element",  # '...' placeholder misuse, or an object/array disclosure in the other's place
    "claim_conflict",  # a disclosed claim name already exists in the object it is inserted into
    # --- netcert / OpenID4VP / DCQL (netid.verifier, netid.oid4vp) ---
    "vct",  # the credential type ('vct') is not the expected one
    "claim_missing",  # a claim the netcert profile requires ('iat', 'exp', the status reference) is absent
    "nonce_reused",  # the nonce (or presentation) was already used: replay
    "status_revoked",  # the token status list marks the credential invalid or suspended
    "status_unavailable",  # the status list could not be obtained or verified
    "rp_scope",  # the request asks for more than the relying party's certificate allows
    "request",  # the presentation request itself is invalid
    "value_mismatch",  # a disclosed value does not satisfy the DCQL query's 'values'
    "disclosure_unrequested",  # a claim was disclosed that the request did not ask for
    "subject",  # a pairwise subject was asked and the credential has none for this RP's sector
    "assurance",  # the holder authentication mode (KB-JWT 'amr') is weaker than the request's min_mode
    # --- request checks (netid.oid4vp.request.open_request; the wallet refuses with these codes) ---
    "rp_certificate",  # the RP access certificate is missing, malformed, expired or not issuer-signed
    "request_signature",  # the request object is not signed by the key in the RP certificate
    "client_id",  # the request's client_id is not the one the RP certificate authenticates
    "response_uri",  # the response_uri is not one of the RP certificate's registered URIs
    "purpose",  # the stated purpose is not one of the RP certificate's registered purposes
    # --- in person (netid.verifier.CounterVerifier) ---
    "window",  # the KB-JWT 'iat' is outside the in-person time window around the counter's clock
)


# --- issuance (OpenID4VCI and enrollment) -------------------------------------------------------------


class IssuanceError(NetIDError):
    """An issuance request was refused: enrollment evidence, a key proof, a token or a credential request.

    ``code`` is stable and machine-readable. Where OpenID4VCI 1.0 names the error (``invalid_proof``,
    ``invalid_nonce``, ``invalid_credential_request``, ``unknown_credential_configuration``,
    ``invalid_grant``, ``invalid_token``) that name is the code, so a standard wallet understands it;
    enrollment adds its own (``ISSUANCE_CODES``). The message never contains personal data.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


#: The stable :attr:`IssuanceError.code` values.
ISSUANCE_CODES: tuple[str, ...] = (
    # --- OpenID4VCI 1.0 §8.3.1.2 / RFC 6749 §5.2 ---
    "invalid_proof",  # a key proof is malformed, wrongly typed or signed, for another issuer, or too old
    "invalid_nonce",  # a key proof's nonce is not a current c_nonce of this issuer
    "invalid_credential_request",  # the credential request is malformed or asks too many credentials
    "unknown_credential_configuration",  # no such credential_configuration_id
    "invalid_grant",  # the pre-authorized code or refresh token is unknown, used or expired
    "invalid_token",  # the access token is unknown or expired
    # --- enrollment (specs/enrollment.md) ---
    "enrollment_unknown",  # no such enrollment, or it expired
    "enrollment_used",  # the challenge was already used with other evidence
    "evidence_malformed",  # the sealed evidence does not decrypt or parse
    "passive_authentication",  # the card's data is not signed by a trusted CSCA, or was altered
    "active_authentication",  # the chip did not sign this enrollment's challenge (a clone, or a replay)
    "document_expired",  # the ID card has expired
    "guardian_required",  # the person is below the self-enrollment age and named no valid guardian
    "device_revoked",  # the device's credentials were revoked
)


# --- wallet ------------------------------------------------------------------------------------------


class WalletError(NetIDError):
    """The holder's wallet could not complete an operation."""


class WalletRefusal(WalletError):  # noqa: N818 - a deliberate refusal, not a fault: named for what it is
    """The wallet refused a presentation request (refuse, never warn: ``specs/protocol.md`` §6).

    ``code`` is stable: a request-check code from :data:`VERIFICATION_CODES` (``"rp_certificate"``,
    ``"request_signature"``, ``"rp_scope"``, ``"response_uri"``, …) or one of the wallet's own:
    ``"consent_denied"`` (the user said no), ``"no_credential"`` (no unused credential can answer),
    ``"mode_unavailable"`` (the requested authentication mode cannot be met), ``"face_mismatch"`` (face
    verification was chosen and the live face did not match the card's portrait), ``"already_answered"``
    (the wallet answered this very request before: :mod:`netid.wallet.http`). ``str()`` is
    ``"<code>: <message>"`` (the code once); :attr:`message` is the message alone.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @classmethod
    def from_error(cls, exc: VerificationError) -> WalletRefusal:
        """The refusal for a failed request check: the same code and message (the code said once)."""
        return cls(exc.code, exc.message)


class EnrollmentError(WalletError):
    """Enrolling with an issuer (:func:`netid.wallet.enroll.enroll`) or fetching a batch failed.

    ``code`` is stable: the issuer's own problem code when it refused (one of :data:`ISSUANCE_CODES`, or
    ``invalid_request``, ``validation``, ``too_large``, ``rate_limited``, …), or one of the wallet's:
    ``"transport"`` (the issuer could not be reached, or answered with a server error: retry later),
    ``"protocol"`` (the issuer's answer is not what the protocol says: a bug or a wrong issuer URL) and
    ``"key_attestation_required"`` (the issuer's metadata requires OpenID4VCI key attestations and the key
    store cannot have its keys attested: raised before anything was sent).
    ``status`` is the HTTP status when there was one. The message never contains personal data.
    """

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class PresentationError(WalletError):
    """Presenting over HTTP (:mod:`netid.wallet.http`) failed on the network or at the relying party — not a
    refusal by the wallet (that is :class:`WalletRefusal`).

    ``code`` is stable: ``"transport"`` (the RP could not be reached, or the exchange broke off),
    ``"rp_error"`` (the RP answered with an error that names no code, or with something that is not an
    OpenID4VP answer), or the RP's own problem code when it gave one (``"already_answered"``,
    ``"transaction_expired"``, ``"nonce_reused"``, …). ``status`` is the HTTP status when there was one.

    ``spent`` says whether the presentation was made: ``True`` when the failure came *after* the wallet
    bound a presentation (its single-use credential is used and its key deleted, and the holder's log
    records the answer, because the RP may have received it); ``False`` when nothing was disclosed and no
    credential was used (e.g. the request object could not be fetched).
    """

    def __init__(self, code: str, message: str, *, status: int | None = None, spent: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.spent = spent


class WrongPinError(WalletError):
    """The PIN (or the recovery code) was wrong; ``tries_left`` more before the store locks."""

    def __init__(self, tries_left: int, *, what: str = "PIN") -> None:
        plural = "try" if tries_left == 1 else "tries"
        super().__init__(f"wrong {what}: {tries_left} {plural} left before the wallet locks")
        self.tries_left = tries_left
        self.what = what


class WalletLockedError(WalletError):
    """Too many wrong PINs: only the recovery code opens the store now (``recovery_tries_left`` tries);
    with none left, the store can only be wiped."""

    def __init__(self, recovery_tries_left: int) -> None:
        if recovery_tries_left > 0:
            message = "the wallet is locked after too many wrong PINs; unlock it with the recovery code"
        else:
            message = "the wallet is locked for good (too many wrong PINs and recovery codes)"
        super().__init__(message)
        self.recovery_tries_left = recovery_tries_left


class WalletNotFoundError(WalletError):
    """There is no wallet store at this path (yet)."""


class WalletFileError(WalletError):
    """The file is not a readable NetID wallet store (wrong format, damaged, or tampered with)."""


class WalletInUseError(WalletError):
    """Another process has this wallet store open."""


class NotEnrolledError(WalletError):
    """The wallet holds no active enrollment (never enrolled, or this device was revoked)."""


class FaceError(WalletError):
    """Face verification could not be enabled. ``code`` is stable: ``guardian_required`` (the person is
    under 14 and no guardian consented), ``face_mismatch`` (the live face is not the card's portrait, or
    the liveness check failed), ``card`` (the card's portrait is missing or its data does not match its
    EF.SOD), ``not_bound`` (the card is not the enrolled person's, or the wallet holds no netcert to
    compare with), ``not_enrolled`` (face verification needs an enrollment first)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# --- relying party over HTTP ----------------------------------------------------------------------------


class TransactionError(NetIDError):
    """A request to the RP's endpoints was refused: ``code`` (stable, e.g. ``state_mismatch``,
    ``transaction_expired`` or a verification code such as ``nonce_reused``), the HTTP ``status`` to
    answer with, and a ``message`` that never holds a disclosed value."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.status = status
        self.message = message
