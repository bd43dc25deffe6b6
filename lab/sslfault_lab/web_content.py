"""What the web lab serves: HTTP/HTTPS comparison sites, mixed-content pages, OCSP and CRL.

Mixed-content pages are templates: `$A` is the insecure asset origin (its https: form
works), `$S` the same origin over https, `$H` its host:port, `$L` an origin that only
speaks plain HTTP (its https: form fails). Every page is static except `mc-script`,
whose image is inserted by a script: Chromium sees it, a static scanner cannot.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from string import Template

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sslfault_lab.pki import DAY, Issued, new_key
from sslfault_lab.servers import HttpResponse, HttpSite

HSTS = ("Strict-Transport-Security", "max-age=31536000")

# A 1x1 transparent PNG: real enough for browsers to decode.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
ASSET_TYPES = {
    ".png": ("image/png", PNG), ".ico": ("image/x-icon", PNG),
    ".js": ("text/javascript", b"/* lab asset */\n"), ".css": ("text/css", b"/* lab asset */\n"),
    ".html": ("text/html; charset=utf-8", b"<!doctype html><title>frame</title>"),
    ".woff2": ("font/woff2", b"wOF2"), ".mp3": ("audio/mpeg", b""), ".mp4": ("video/mp4", b""),
    ".vtt": ("text/vtt", b"WEBVTT\n\n"), ".webmanifest": ("application/manifest+json", b"{}"),
}


@dataclass(frozen=True)
class MixedPage:
    """One page: its HTML (a template), extra files on its host, and the expected verdicts."""

    name: str
    description: str
    html: str
    blockable: tuple[str, ...] = ()  # URL templates the scanner must report as blockable
    upgradable: tuple[str, ...] = ()
    forms: tuple[str, ...] = ()
    upgraded_by_policy: tuple[str, ...] = ()
    header_csp: str | None = None
    files: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (content type, template)
    redirects: dict[str, str] = field(default_factory=dict)  # path -> 301 Location (a template)
    script_only: tuple[str, ...] = ()  # insecure URLs only a script creates: Chromium-only, by design
    # URLs whose class follows specs.md where Chromium differs: url -> the class Chromium reports.
    chromium_differs: dict[str, str] = field(default_factory=dict)

    def render(self, text: str, values: dict[str, str]) -> str:
        return Template(text).substitute(values)


def _page(title: str, head: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title>{head}</head>"
            f"<body><h1>{title}</h1>{body}</body></html>")


PAGES: tuple[MixedPage, ...] = (
    MixedPage(
        "mc-clean", "only secure sub-resources; navigations, templates and noscript are not loads",
        _page("clean", '<link rel="stylesheet" href="$S/clean.css"><script src="/app.js"></script>'
              '<link rel="preconnect" href="$A/"><link rel="dns-prefetch" href="$A/">',
              '<img src="$S/logo.png"><img src="/local.png" alt=""><img src="data:image/png;base64,AAAA">'
              '<a href="$A/page.html">a link is a navigation, not mixed content</a>'
              '<template><img src="$A/in-template.png"></template>'
              '<noscript><img src="$A/in-noscript.png"></noscript>'),
        files={"/app.js": ("text/javascript", "/* app */"), "/local.png": ("image/png", "")},
    ),
    MixedPage(
        "mc-upgradable", "img src, video poster, input type=image over http",
        _page("upgradable", "",
              '<img src="$A/img.png"><video poster="$A/poster.png" width="10" height="10"></video>'
              '<input type="image" src="$A/button.png" alt="go">'),
        upgradable=("$A/img.png", "$A/poster.png", "$A/button.png"),
    ),
    MixedPage(
        "mc-media", "audio and video src, source inside video (upgradable); track (blockable)",
        _page("media", "", '<audio src="$A/sound.mp3" preload="auto"></audio>'
              '<video src="$A/movie.mp4" preload="auto"></video>'
              '<video preload="auto" crossorigin><source src="$A/clip.mp4" type="video/mp4">'
              '<track default kind="captions" srclang="en" src="$A/captions.vtt"></video>'),
        upgradable=("$A/sound.mp3", "$A/movie.mp4", "$A/clip.mp4"),
        blockable=("$A/captions.vtt",),
    ),
    MixedPage(
        "mc-srcset", "img srcset: image sets are blocked, not upgraded",
        _page("srcset", "", '<img srcset="$A/set-1x.png 1x" alt="">'
              '<img src="$S/fallback.png" srcset="$A/set-only.png 1x" alt="">'),
        blockable=("$A/set-1x.png", "$A/set-only.png"),
    ),
    MixedPage(
        "mc-picture", "picture > source srcset and img inside picture: blocked",
        _page("picture", "", '<picture><source srcset="$A/pic-source.png"><img src="$S/pic-fallback.png" alt="">'
              '</picture><picture><img src="$A/pic-img.png" alt=""></picture>'),
        blockable=("$A/pic-source.png", "$A/pic-img.png"),
    ),
    MixedPage(
        "mc-blockable", "script, stylesheet, iframe, object, embed, and link rel=icon (Chromium blocks favicons)",
        _page("blockable", '<link rel="stylesheet" href="$A/style.css"><script src="$A/lib.js"></script>'
              '<link rel="icon" href="$A/favicon.ico">',
              '<iframe src="$A/frame.html"></iframe><object data="$A/object.html" type="text/html"></object>'
              '<embed src="$A/embed.html" type="text/html">'),
        blockable=("$A/style.css", "$A/lib.js", "$A/frame.html", "$A/object.html", "$A/embed.html",
                   "$A/favicon.ico"),
    ),
    MixedPage(
        "mc-redirects", "a stylesheet and the implicit /favicon.ico whose https: URLs redirect to http:",
        _page("redirects", '<link rel="stylesheet" href="/moved.css">', "<p>no icon named</p>"),
        blockable=("$A/moved.css", "$A/favicon.ico"),
        redirects={"/moved.css": "$A/moved.css", "/favicon.ico": "$A/favicon.ico"},
    ),
    MixedPage(
        "mc-icon-redirect", "a named https: favicon that redirects to http:",
        _page("icon redirect", '<link rel="icon" href="/icon.png">', ""),
        blockable=("$A/icon.png",),
        redirects={"/icon.png": "$A/icon.png"},
    ),
    MixedPage(
        "mc-preload", "link rel=preload by as=, and rel=modulepreload",
        _page("preload", '<link rel="preload" as="script" href="$A/pre.js">'
              '<link rel="preload" as="style" href="$A/pre.css">'
              '<link rel="preload" as="image" href="$A/pre.png">'
              '<link rel="preload" as="font" type="font/woff2" crossorigin href="$A/pre.woff2">'
              '<link rel="modulepreload" href="$A/module.js">', ""),
        blockable=("$A/pre.js", "$A/pre.css", "$A/pre.woff2", "$A/module.js"),
        upgradable=("$A/pre.png",),
    ),
    MixedPage(
        "mc-base", "an http: <base href> makes relative URLs insecure",
        _page("base", '<base href="$A/base/"><script src="rel.js"></script>', '<img src="rel.png" alt="">'),
        blockable=("$A/base/rel.js",),
        upgradable=("$A/base/rel.png",),
    ),
    MixedPage(
        "mc-urls", "protocol-relative and backslash URLs stay secure; whitespace and http: quirks do not",
        _page("urls", '<script src="http:$H/no-slashes.js"></script>',
              '<img src="//$H/protocol-relative.png" alt=""><img src="\\\\$H\\backslashes.png" alt="">'
              '<img src="  $A/spaces.png  " alt=""><img src="ht&#10;tp://$H/newline.png" alt="">'
              '<img src="http:\\\\$H\\http-backslashes.png" alt="">'),
        blockable=("$A/no-slashes.js",),
        upgradable=("$A/spaces.png", "$A/newline.png", "$A/http-backslashes.png"),
    ),
    MixedPage(
        "mc-css", "CSS url() (upgradable), @import and @font-face (blockable), one linked stylesheet deep",
        _page("css", '<link rel="stylesheet" href="/site.css"><style>@import url("$A/imported.css");'
              "@font-face{font-family:LabFont;src:url($A/font.woff2)}"
              "body{background-image:url('$A/bg.png')} p{font-family:LabFont}</style>",
              '<div style="background: url($A/inline.png); width: 8px; height: 8px"></div>'
              '<p>text in LabFont</p><h2>heading</h2>'),
        blockable=("$A/imported.css", "$A/font.woff2", "$A/nested.css"),
        upgradable=("$A/bg.png", "$A/inline.png", "$A/from-sheet.png"),
        files={"/site.css": ("text/css", '@import "$A/nested.css";\nh2 { background: url("$A/from-sheet.png") }\n')},
    ),
    MixedPage(
        "mc-uir-header", "CSP upgrade-insecure-requests in a header: upgraded, not mixed",
        _page("uir header", "", '<img src="$A/uir.png" alt=""><script src="$A/uir.js"></script>'
              '<img src="$L/uir-broken.png" alt="">'),
        upgraded_by_policy=("$A/uir.png", "$A/uir.js", "$L/uir-broken.png"),
        header_csp="upgrade-insecure-requests",
    ),
    MixedPage(
        "mc-uir-meta", "CSP upgrade-insecure-requests in a meta element",
        _page("uir meta", '<meta http-equiv="Content-Security-Policy" content="upgrade-insecure-requests">',
              '<img src="$A/uir-meta.png" alt="">'),
        upgraded_by_policy=("$A/uir-meta.png",),
    ),
    MixedPage(
        "mc-remedy", "insecure images whose https: form works (also when HEAD is refused), and one whose does not",
        _page("remedy", "", '<img src="$A/works.png" alt=""><img src="$L/broken.png" alt="">'
              '<img src="$A/no-head.png" alt="">'),
        upgradable=("$A/works.png", "$L/broken.png", "$A/no-head.png"),
    ),
    MixedPage(
        "mc-form", "a form posting to http: (its own fault: Chromium warns before submitting)",
        _page("form", "", '<form action="$A/submit" method="post"><input name="q"></form>'),
        forms=("$A/submit",),
    ),
    MixedPage(
        "mc-script", "an image inserted by a script: only a browser sees it",
        _page("script", "", '<script>var i = new Image(); i.src = "$A/" + "dynamic.png";'
              "document.body.appendChild(i);</script>"),
        script_only=("$A/dynamic.png",),
    ),
)


# -- HTTP/HTTPS comparison sites -------------------------------------------------------


def redirect_site(host: str, port: int) -> HttpSite:
    return HttpSite(default=HttpResponse(301, b"moved\n", headers=(("Location", f"https://{host}:{port}/"),)))


def _html(title: str, *headers: tuple[str, str], status: int = 200) -> HttpResponse:
    body = f"<!doctype html><html><head><title>{title}</title></head><body><p>{title}</p></body></html>"
    return HttpResponse(status, body.encode(), "text/html; charset=utf-8", headers)


def http_sites(host: str, name: str, port: int) -> tuple[HttpSite, HttpSite]:
    """The HTTP/HTTPS comparison cases: (http side, https side) per case name."""
    ok = _html(f"{name} site", HSTS)
    redirect = redirect_site(host, port)
    table: dict[str, tuple[HttpSite, HttpSite | HttpResponse]] = {
        "web-ok": (redirect, ok), "web-no-http": (redirect, ok), "tls-modern": (redirect, ok),
        "rev-none": (redirect, ok),
        "web-404": (HttpSite(default=_html("welcome")), HttpSite(default=_html("not found", status=404))),
        "web-404-redirect": (redirect, HttpSite(default=_html("not found", status=404))),
        "web-content": (HttpSite(default=ok), ok),
        "web-two-sites": (HttpSite(default=_html("Old shop")), _html("New shop", HSTS)),
        "web-500": (redirect, HttpSite(default=_html("server error", HSTS, status=500))),
        "web-no-hsts": (redirect, _html(f"{name} site")),
        "web-https-to-http": (HttpSite(default=_html("plain site")), HttpSite(default=HttpResponse(
            301, b"moved\n", headers=(("Location", f"http://{host}:{port}/"), HSTS)))),
    }
    http, https = table[name]
    return http, https if isinstance(https, HttpSite) else HttpSite(default=https)


HTTP_CASES = {
    "web-ok": (frozenset(), "HTTP redirects to HTTPS; HTTPS 200 with HSTS"),
    "web-404": (frozenset({"https_status_mismatch", "http_not_redirected"}), "HTTP 200, HTTPS 404"),
    "web-404-redirect": (frozenset({"https_status_mismatch"}), "HTTP redirects to HTTPS, which answers 404"),
    "web-content": (frozenset({"http_not_redirected"}), "HTTP serves the page instead of redirecting"),
    "web-two-sites": (frozenset({"http_not_redirected"}), "HTTP and HTTPS both 200 but different sites"),
    "web-500": (frozenset({"https_error_status"}), "HTTPS answers 500"),
    "web-no-hsts": (frozenset({"hsts_missing"}), "HTTPS 200 without Strict-Transport-Security"),
    "web-no-http": (frozenset(), "nothing listens on the HTTP port: not a fault"),
    "web-https-to-http": (frozenset({"https_redirects_to_http", "http_not_redirected"}),
                          "HTTPS redirects to the plain-HTTP site, which serves it"),
}
REVOCATION_CASES = {  # name -> (ocsp path or None, crl?, revoked?, faults, error)
    "rev-ocsp-good": ("/delegated", False, False, frozenset(), False),
    "rev-ocsp-revoked": ("/direct", False, True, frozenset({"cert_revoked"}), False),
    "rev-ocsp-forged": ("/forged", False, True, frozenset(), True),
    "rev-crl-good": (None, True, False, frozenset(), False),
    "rev-crl-revoked": (None, True, True, frozenset({"cert_revoked"}), False),
}


# -- revocation: OCSP responder and CRL for the lab's ECC intermediate ---------------------


@dataclass
class Revocation:
    """Serials the lab CA has revoked, an OCSP responder and a CRL for its ECC intermediate."""

    issuer: Issued
    responder: Issued  # a delegated OCSP signer issued by `issuer`
    now: dt.datetime
    revoked: set[int] = field(default_factory=set)

    def crl_der(self) -> bytes:
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.issuer.cert.subject)
                   .last_update(self.now - DAY).next_update(self.now + DAY))
        for serial in sorted(self.revoked):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(self.now - DAY).build())
        return builder.sign(self.issuer.key, hashes.SHA256()).public_bytes(Encoding.DER)

    def answer(self, path: str, body: bytes) -> HttpResponse:
        """POST /direct (signed by the issuer), /delegated (by a responder cert), /forged (by a stranger)."""
        try:
            request = ocsp.load_der_ocsp_request(body)
        except ValueError:
            return HttpResponse(200, ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST).public_bytes(Encoding.DER), "application/ocsp-response")
        revoked = request.serial_number in self.revoked
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            request.issuer_name_hash, request.issuer_key_hash, request.serial_number, request.hash_algorithm,
            ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
            self.now - DAY, self.now + DAY, self.now - DAY if revoked else None,
            x509.ReasonFlags.key_compromise if revoked else None)
        if path == "/delegated":
            builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self.responder.cert)
            builder = builder.certificates([self.responder.cert])
            signed = builder.sign(self.responder.key, hashes.SHA256())
        elif path == "/forged":
            # Names the issuer as signer, but a stranger holding another key signed it.
            stranger = self_signed_as(self.issuer.cert.subject, self.now)
            builder = builder.responder_id(ocsp.OCSPResponderEncoding.NAME, stranger.cert)
            signed = builder.sign(stranger.key, hashes.SHA256())
        else:
            builder = builder.responder_id(ocsp.OCSPResponderEncoding.NAME, self.issuer.cert)
            signed = builder.sign(self.issuer.key, hashes.SHA256())
        return HttpResponse(200, signed.public_bytes(Encoding.DER), "application/ocsp-response")


def self_signed_as(name: x509.Name, now: dt.datetime) -> Issued:
    key = new_key("ec")
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - DAY).not_valid_after(now + DAY)
            .sign(key, hashes.SHA256()))
    return Issued(cert, key)


def ocsp_responder_cert(issuer: Issued, now: dt.datetime) -> Issued:
    key = new_key("ec")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SSL Fault Lab OCSP Responder")])
    cert = (x509.CertificateBuilder().subject_name(name)
            .issuer_name(issuer.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - DAY).not_valid_after(now + 30 * DAY)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
            .sign(issuer.key, hashes.SHA256()))
    return Issued(cert, key)
