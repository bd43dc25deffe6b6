"""The alert families: which fault ids each alert covers, how long it waits, what it says and why.

Who is told (page, warn, ticket) is not here: deploy/alerting.yaml and the catalog decide it
per fault id (tools/alerting/settings.py). A family names fault ids; ids not in the catalog yet
are left out until it gains them, and catalog ids no family names get a family of their own
built from the catalog's title and summary (`families()`), so a new fault always alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from exporter.catalog.faults import FAULTS


@dataclass(frozen=True)
class Family:
    alert: str
    faults: tuple[str, ...]
    wait: str  # a key of `for:` in deploy/alerting.yaml
    summary: str
    description: str
    why: str  # one line for the paging policy table


T = "{{ $labels.target }}"
F = "{{ $labels.fault }}"

# fmt: off
_FAMILIES: tuple[Family, ...] = (
    # -- the certificate presented ---------------------------------------------------------
    Family("SSLCertificateExpired", ("cert_expired",), "at_once",
           f"{T}: certificate has expired",
           f"The certificate served for {T} is past its notAfter date, so browsers refuse the site. Renew it now "
           "and install it with its intermediates on every server behind the name.",
           "Every visitor gets an error now."),
    Family("SSLCertificateNotYetValid", ("cert_not_yet_valid",), "at_once",
           f"{T}: certificate is not valid yet",
           f"The certificate served for {T} has a notBefore date in the future, so clients reject it. Serve the "
           "previous valid certificate until then and check the clocks (NTP) of the servers and the issuing system.",
           "Every visitor gets an error now."),
    Family("SSLCertificateHostnameMismatch", ("cert_hostname_mismatch",), "at_once",
           f"{T}: certificate does not cover the host name",
           f"The certificate presented for {T} (with SNI) does not list this name, so browsers show a name "
           "mismatch. Install a certificate whose SAN covers the name, or fix the server's SNI binding.",
           "Every visitor gets a name-mismatch error now."),
    Family("SSLCertificateUntrusted", ("cert_untrusted",), "at_once",
           f"{T}: certificate is not trusted",
           f"No path from the certificate of {T} to a trusted root exists (self-signed, private CA or unknown "
           "root). Replace it with a certificate from a publicly trusted CA.",
           "Every visitor gets an untrusted-certificate error now."),
    Family("SSLCertificateRevoked", ("cert_revoked",), "at_once",
           f"{T}: certificate has been revoked",
           f"The CA's OCSP responder reports the certificate of {T} as revoked. Issue and install a new "
           "certificate with a new private key at once.",
           "Clients that check revocation refuse the site now; the key may be compromised."),
    Family("SSLCertificateCryptoRejected", ("cert_crypto_rejected",), "at_once",
           f"{T}: certificate uses cryptography browsers refuse",
           f"The certificate of {T} or an intermediate has an MD5 or SHA-1 signature or an RSA key under 1024 "
           "bits, so browsers refuse it. Reissue it with an RSA 2048+ or ECDSA P-256 key and a SHA-256 signature.",
           "Browsers refuse the certificate outright now."),
    Family("SSLCertificateWeakCrypto", ("cert_weak_crypto",), "at_once",
           f"{T}: certificate uses weak cryptography",
           f"The certificate of {T} or an intermediate has a key below the CA/Browser Forum minimum (RSA under "
           "2048 bits, EC under 256). Reissue it with an RSA 2048+ or ECDSA P-256 key at the next renewal.",
           "Browsers still accept it; fix it at the next renewal."),
    Family("SSLCertificateLifetimeExceedsPolicy", ("cert_lifetime_exceeds_policy",), "at_once",
           f"{T}: certificate lifetime exceeds the CA/B Forum maximum",
           f"The certificate of {T} is valid for longer than the maximum in force when it was issued, and "
           "clients may reject it. Reissue it with a compliant lifetime and automate renewal.",
           "Some clients may reject it; no outage now."),
    Family("SSLSniDefaultCertificateMismatch", ("sni_default_cert_mismatch",), "at_once",
           f"{T}: clients without SNI get a certificate for another name",
           f"Without SNI the server of {T} presents a certificate that does not cover the name. Make the "
           "default (no-SNI) certificate cover it or use one SAN/wildcard certificate for every name on that address.",
           "Only clients without SNI (very old ones) are affected."),
    # -- protocols and cipher suites ---------------------------------------------------------
    Family("SSLModernTlsUnsupported", ("tls_modern_protocol_unsupported",), "network",
           f"{T}: server accepts neither TLS 1.2 nor TLS 1.3",
           f"The server of {T} speaks only TLS 1.0/1.1, which current browsers refuse to use. Enable TLS 1.2 "
           "and 1.3 in the web server or load balancer.",
           "Current browsers cannot connect now."),
    Family("SSLLegacyTlsEnabled", ("tls_legacy_protocol",), "at_once",
           f"{T}: server still accepts TLS 1.0/1.1",
           f"The server of {T} accepts TLS 1.0 or 1.1, which browsers and compliance rules reject. Disable them "
           "and keep TLS 1.2 and 1.3.",
           "Modern clients use TLS 1.2+; an exposure and a compliance finding, not an outage."),
    Family("SSLWeakCipherSuites", ("tls_insecure_cipher", "tls_weak_cipher"), "network",
           f"{T}: server accepts weak cipher suites ({F})",
           f"The server of {T} accepts cipher suites or DH groups that are insecure or weak (the exporter's "
           "report names them). Remove them from the server's cipher list and keep ECDHE with AEAD suites.",
           "Browsers negotiate strong suites; an exposure to remove in working hours."),
    Family("SSLClientCertificateRequired", ("tls_client_cert_required",), "network",
           f"{T}: server demands a client certificate",
           f"The server of {T} asks for a client certificate, so HTTP-layer checks cannot judge it. Configure a "
           "client certificate for the target, or confirm mutual TLS is intended there.",
           "Intended for mutual-TLS sites; worth knowing, nobody to wake."),
    # -- the chain ---------------------------------------------------------------------------
    Family("SSLIntermediateCertificateExpired", ("chain_cert_expired",), "at_once",
           f"{T}: an intermediate certificate in the served chain has expired",
           f"The server of {T} sends an expired intermediate, so many clients reject the chain. Replace it with "
           "the CA's current intermediate and reload the server.",
           "Many clients reject the chain now."),
    Family("SSLCertificateChainIncomplete", ("chain_incomplete",), "at_once",
           f"{T}: intermediate certificate missing from the chain",
           f"The server of {T} does not send the intermediate its certificate needs; curl, Firefox, Java and "
           "most API clients fail. Install the CA's intermediate (the exporter report names it) and serve the full chain.",
           "API clients, curl, Java and some browsers fail now."),
    Family("SSLCertificateChainWrongOrder", ("chain_wrong_order",), "at_once",
           f"{T}: certificate chain served out of order",
           f"The server of {T} sends its chain out of order, which strict clients reject. Put the leaf first, "
           "then each issuer in turn, and reload.",
           "Only strict clients are affected."),
    Family("SSLCertificateChainRedundantCerts", ("chain_contains_root", "chain_extra_certs"), "at_once",
           f"{T}: chain carries certificates it does not need ({F})",
           f"The server of {T} also sends the root or certificates that are not on the path, which wastes bytes "
           "on every handshake. Remove them from the chain file and reload.",
           "Harmless; wasted bytes."),
    # -- reaching the site -------------------------------------------------------------------
    Family("SSLDnsResolutionFailed", ("dns_resolution_failed",), "network",
           f"{T}: name does not resolve",
           f"{T} has no A/AAAA answer (NXDOMAIN, SERVFAIL or timeout), so nobody can reach the site. Add or "
           "repair the records at the authoritative DNS provider and check the delegation with dig +trace.",
           "Nobody can reach the site now."),
    Family("SSLDnsUnexpectedAddress", ("dns_unexpected_address",), "network",
           f"{T}: name resolves to an unexpected address",
           f"{T} resolves to an address outside its expected_addresses, so visitors and the CA may reach the "
           "wrong server. Point the A/AAAA records at the right server, or update expected_addresses if the move was intended.",
           "The connection checks on that address page if it serves visitors badly; the CA's HTTP validation "
           "would reach the wrong server at renewal."),
    Family("SSLHttpsPortUnreachable", ("tcp_connect_refused", "tcp_connect_timeout", "tls_handshake_failed"),
           "network",
           f"{T}: HTTPS unreachable ({F})",
           f"Connections to the HTTPS port of {T} are refused, time out or fail the TLS handshake. Check that "
           "the web server listens on 443 with a certificate bound, and that firewalls and security groups allow TCP 443.",
           "Nobody can open the site over HTTPS now."),
    Family("SSLHttpsServerError", ("https_error_status",), "network",
           f"{T}: HTTPS answers with a server error",
           f"The configured path on {T} answers 5xx over HTTPS. Check the application and upstream health in "
           "the web server's error log.",
           "An application fault, not a certificate one: its own monitoring should page."),
    # -- what the site serves ----------------------------------------------------------------
    Family("SSLHttpsServesWrongSite", ("https_status_mismatch",), "content",
           f"{T}: HTTPS serves another site (HTTP works, HTTPS 4xx)",
           "The same path works over HTTP but answers 404 or another 4xx over HTTPS, so the HTTPS binding "
           "points at another site or document root. Bind HTTPS to the same site as HTTP (IIS bindings, nginx server_name/root).",
           "HTTPS visitors get the wrong site now."),
    Family("SSLHttpsRedirectsToHttp", ("https_redirects_to_http",), "content",
           f"{T}: HTTPS redirects visitors to plain HTTP",
           f"The HTTPS URL of {T} redirects to an http:// URL, so visitors are taken off HTTPS and browsers "
           "show 'not secure'. Fix the redirect (application base URL, proxy headers such as X-Forwarded-Proto).",
           "Visitors are taken off HTTPS now."),
    Family("SSLMixedContent", ("mixed_content_blockable", "mixed_content_upgradable", "mixed_content_form"),
           "content",
           f"{T}: HTTPS page loads or posts over http:// ({F})",
           f"The HTTPS page of {T} loads sub-resources or submits a form over plain http://, which browsers "
           "block or flag as not secure. Change each link to https:// or host the resource yourself (the report lists the URLs).",
           "The page loads, with parts blocked or flagged; fix in working hours."),
    Family("SSLHttpsNotEnforced", ("http_not_redirected", "hsts_missing"), "at_once",
           f"{T}: HTTPS is not enforced ({F})",
           f"{T} serves plain HTTP without redirecting, or sends no Strict-Transport-Security header. Redirect "
           "port 80 to https:// and add HSTS once HTTPS is stable.",
           "Hardening; worth a ticket."),
    # -- the next issuance -------------------------------------------------------------------
    Family("SSLDomainValidationFailing",
           ("dns_validation_record_missing", "dns_validation_record_mismatch", "file_validation_redirect",
            "file_validation_unreachable", "file_validation_mismatch"), "network",
           f"{T}: domain validation would fail ({F})",
           f"The CA cannot validate ownership of {T}: the validation TXT record or file is missing, wrong or "
           "redirected, so the certificate cannot be issued. Fix the record or file as the runbook describes for this fault.",
           "Blocks the next issuance; the served certificate still works."),
    Family("SSLDomainValidationNotPropagated", ("dns_validation_not_propagated",), "slow",
           f"{T}: validation TXT record not yet visible everywhere",
           f"The authoritative servers of {T} have the right TXT value but some resolvers still do not. Wait "
           "for the TTL to pass before asking the CA to validate again, and do not retrigger validation in a loop.",
           "Usually clears by itself within the TTL; blocks issuance until then."),
    Family("SSLCAABlocksIssuance", ("caa_forbids_issuer", "caa_critical_unknown_tag"), "content",
           f"{T}: CAA records block certificate issuance ({F})",
           f"The CAA records that apply to {T} authorise none of your CAs or carry an unknown critical tag, so "
           "renewal will fail. Add a CAA issue record for your CA or remove the offending record.",
           "Blocks the next issuance; the served certificate still works."),
    Family("SSLCAALookupFailing", ("caa_lookup_failed",), "network",
           f"{T}: CAA lookup fails",
           f"CAA queries for {T} end in SERVFAIL or time out, and CAs refuse to issue on such errors. Make every "
           "authoritative name server answer CAA queries.",
           "Blocks the next issuance while it lasts."),
    Family("SSLDomainMayFailCAReview", ("domain_review_risk",), "at_once",
           f"{T}: name may be held by the CA's security review",
           f"{T} is an IP or bare host name, or contains a word or TLD that DV anti-phishing review often "
           "rejects. Plan for an OV/EV certificate or another name.",
           "May delay a DV order; plan ahead."),
    Family("SSLCertificateFileInvalid",
           ("cert_file_invalid_pem", "cert_file_whitespace", "cert_file_chain_incomplete", "cert_file_wrong_order",
            "cert_file_key_mismatch"), "at_once",
           f"{T}: certificate file problem ({F})",
           f"A certificate or key file watched as {T} cannot be parsed, is incomplete or out of order, or does "
           "not match its key, so uploading or installing it fails. Run sslfault lint-cert on the file and fix what it reports.",
           "Fails when the file is next installed or loaded; the running server keeps what it loaded."),
)
# fmt: on

# Faults alerted from timestamps instead of `sslfault_fault`: one family with thresholds from the settings.
EXPIRY_ALERT = "SSLCertificateExpiringSoon"
TIMESTAMP_FAULTS: Mapping[str, str] = {"cert_expiring_soon": EXPIRY_ALERT}


def _camel(fault_id: str) -> str:
    return "SSL" + "".join(part.capitalize() for part in fault_id.split("_"))


def families(catalog: Iterable[str] | None = None) -> list[Family]:
    """The families for the catalog's fault ids, in catalog order of their first fault."""
    ids = [str(f) for f in (FAULTS if catalog is None else catalog)]
    known = set(ids)
    out = []
    for family in _FAMILIES:
        present = tuple(f for f in family.faults if f in known)
        if present:
            out.append(Family(family.alert, present, family.wait, family.summary, family.description, family.why))
    named = {f for family in out for f in family.faults} | set(TIMESTAMP_FAULTS)
    for fault_id in ids:
        if fault_id not in named:
            fault = FAULTS.get(fault_id)
            title = fault.title if fault else fault_id.replace("_", " ")
            summary = fault.summary if fault else f"The exporter reports {fault_id}."
            out.append(Family(_camel(fault_id), (fault_id,), "content", f"{T}: {title}",
                              f"{summary} The runbook says how to fix it.", "See the runbook."))
    order = {f: i for i, f in enumerate(ids)}
    return sorted(out, key=lambda family: min(order[f] for f in family.faults))


def declared_fault_ids() -> set[str]:
    """Every fault id a hand-written family names, in the catalog or not (yet)."""
    return {f for family in _FAMILIES for f in family.faults} | set(TIMESTAMP_FAULTS)
