"""The fault catalog as data: every fault id, its severity, section, check and remedy.

Ids are public interface (metric labels, JSON keys, alert labels): add new ones,
never rename. The source of truth for ids is the shared catalog (faults.md);
``tests/catalog/test_faults.py`` keeps the two in step.

Regenerate the Markdown view with ``python -m exporter.docs faults > docs/faults.md``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "FaultId",
    "Severity",
    "Fault",
    "FAULTS",
    "SECTIONS",
    "get_fault",
    "render_markdown",
]


class Severity(enum.StrEnum):
    """How bad a fault is; `rank` is the one severity order (higher is worse) every view sorts by."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _RANK[self.value]


_RANK: dict[str, int] = {"info": 1, "warning": 2, "critical": 3}


class FaultId(enum.StrEnum):
    """Every fault id, in catalog order."""

    # S1 domain-ownership validation
    DNS_VALIDATION_RECORD_MISSING = "dns_validation_record_missing"
    DNS_VALIDATION_RECORD_MISMATCH = "dns_validation_record_mismatch"
    DNS_VALIDATION_NOT_PROPAGATED = "dns_validation_not_propagated"
    FILE_VALIDATION_REDIRECT = "file_validation_redirect"
    FILE_VALIDATION_UNREACHABLE = "file_validation_unreachable"
    FILE_VALIDATION_MISMATCH = "file_validation_mismatch"
    CAA_FORBIDS_ISSUER = "caa_forbids_issuer"
    CAA_CRITICAL_UNKNOWN_TAG = "caa_critical_unknown_tag"
    CAA_LOOKUP_FAILED = "caa_lookup_failed"
    # S2 CA security review
    DOMAIN_REVIEW_RISK = "domain_review_risk"
    # S3 HTTPS unreachable
    DNS_RESOLUTION_FAILED = "dns_resolution_failed"
    DNS_UNEXPECTED_ADDRESS = "dns_unexpected_address"
    TCP_CONNECT_REFUSED = "tcp_connect_refused"
    TCP_CONNECT_TIMEOUT = "tcp_connect_timeout"
    TLS_HANDSHAKE_FAILED = "tls_handshake_failed"
    HTTPS_ERROR_STATUS = "https_error_status"
    # S4 HTTPS 404 while HTTP works
    HTTPS_STATUS_MISMATCH = "https_status_mismatch"
    # S5 certificate files
    CERT_FILE_INVALID_PEM = "cert_file_invalid_pem"
    CERT_FILE_WHITESPACE = "cert_file_whitespace"
    CERT_FILE_CHAIN_INCOMPLETE = "cert_file_chain_incomplete"
    CERT_FILE_WRONG_ORDER = "cert_file_wrong_order"
    CERT_FILE_KEY_MISMATCH = "cert_file_key_mismatch"
    # S7 "connection not secure"
    CERT_EXPIRED = "cert_expired"
    CERT_EXPIRING_SOON = "cert_expiring_soon"
    CHAIN_CERT_EXPIRED = "chain_cert_expired"
    CERT_NOT_YET_VALID = "cert_not_yet_valid"
    CERT_HOSTNAME_MISMATCH = "cert_hostname_mismatch"
    CERT_UNTRUSTED = "cert_untrusted"
    CERT_LIFETIME_EXCEEDS_POLICY = "cert_lifetime_exceeds_policy"
    CERT_WEAK_CRYPTO = "cert_weak_crypto"
    CERT_CRYPTO_REJECTED = "cert_crypto_rejected"
    MIXED_CONTENT_BLOCKABLE = "mixed_content_blockable"
    MIXED_CONTENT_UPGRADABLE = "mixed_content_upgradable"
    # S8 IIS SNI binding
    SNI_DEFAULT_CERT_MISMATCH = "sni_default_cert_mismatch"
    # S9 intermediate certificates
    CHAIN_INCOMPLETE = "chain_incomplete"
    CHAIN_WRONG_ORDER = "chain_wrong_order"
    CHAIN_CONTAINS_ROOT = "chain_contains_root"
    CHAIN_EXTRA_CERTS = "chain_extra_certs"
    # Beyond the guide
    CERT_REVOKED = "cert_revoked"
    TLS_LEGACY_PROTOCOL = "tls_legacy_protocol"
    HTTP_NOT_REDIRECTED = "http_not_redirected"
    HSTS_MISSING = "hsts_missing"
    MIXED_CONTENT_FORM = "mixed_content_form"
    HTTPS_REDIRECTS_TO_HTTP = "https_redirects_to_http"
    TLS_MODERN_PROTOCOL_UNSUPPORTED = "tls_modern_protocol_unsupported"
    TLS_INSECURE_CIPHER = "tls_insecure_cipher"
    TLS_WEAK_CIPHER = "tls_weak_cipher"
    TLS_CLIENT_CERT_REQUIRED = "tls_client_cert_required"


@dataclass(frozen=True)
class Fault:
    """One catalog entry."""

    id: FaultId
    severity: Severity
    section: str  # "S1".."S9", or "extra" for "Beyond the guide"
    title: str
    summary: str
    title_zh: str
    summary_zh: str
    remedy_en: str
    remedy_zh: str


# Section key -> heading, in guide order (S6 has no ids of its own).
SECTIONS: Mapping[str, str] = MappingProxyType(
    {
        "S1": "Domain-ownership validation fails (certificate cannot be issued)",
        "S2": "The CA's security review rejects the domain (DV certificates)",
        "S3": "The site cannot be reached over HTTPS",
        "S4": "HTTPS answers 404 while HTTP works",
        "S5": "Certificate files cannot be parsed or are incomplete",
        "S6": "The DNS host cannot serve the validation TXT record",
        "S7": 'The browser says "connection not secure"',
        "S8": "IIS: the host name of an https binding cannot be set",
        "S9": "IIS: intermediate certificates are missing",
        "extra": "Beyond the guide",
    }
)

# Sections without ids of their own are explained by a note instead of a table.
_SECTION_NOTES: Mapping[str, str] = MappingProxyType(
    {
        "S6": (
            "No ids of its own: detected as `dns_validation_record_missing` (S1), "
            "whose detail names the domain's authoritative name servers so the "
            "operator sees which DNS provider is at fault."
        ),
    }
)

_C, _W, _I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

_MIXED_EN = (
    "For each insecure URL in the report, try the https:// form: if it answers, change "
    "the link to https://. If it does not, host the resource on your own site and "
    "reference it with a relative or https:// URL."
)
_MIXED_ZH = (
    "针对报告中列出的每个不安全 URL，先尝试其 https:// 形式：如果能正常访问，就把链接改为 "
    "https://；如果不能，请把该资源下载到自己的站点上托管，并改用相对路径或 https:// URL 引用。"
)

# fmt: off
_ENTRIES: tuple[Fault, ...] = (
    # ---- S1 -------------------------------------------------------------
    Fault(
        FaultId.DNS_VALIDATION_RECORD_MISSING, _C, "S1",
        "Validation TXT record missing",
        "The domain-validation TXT record (default host `_dnsauth.<domain>`) is absent "
        "at the domain's authoritative name servers.",
        "缺少域名验证 TXT 记录",
        "域名的权威名称服务器上没有域名验证所需的 TXT 记录（默认主机记录为 `_dnsauth.<域名>`）。",
        "Add the TXT record with the exact host and value from the CA at the DNS provider "
        "that is authoritative for the domain (the report names its name servers). If that "
        "DNS host does not support TXT records, move the zone to name servers that do, or "
        "switch the order to file validation.",
        "在域名的权威 DNS 服务商处添加 CA 给出的 TXT 记录，主机记录和记录值须与 CA 提供的完全一致"
        "（报告中列出了权威名称服务器）。如果该 DNS 服务商不支持 TXT 记录，请把域名迁移到支持 TXT "
        "记录的名称服务器，或改用文件验证。",
    ),
    Fault(
        FaultId.DNS_VALIDATION_RECORD_MISMATCH, _C, "S1",
        "Validation TXT record has the wrong value",
        "TXT records exist at the validation name but none equals the value the CA expects.",
        "域名验证 TXT 记录值错误",
        "验证主机名下存在 TXT 记录，但没有一条与 CA 要求的值一致。",
        "Compare the values found (listed in the report) with the one the CA issued for this "
        "order and correct the record: no extra quotes or spaces, and do not repeat the domain "
        "in the host field. Delete stale validation records left by earlier orders.",
        "将报告中查到的 TXT 记录值与 CA 为本次订单下发的值逐字比对并修正：不要带多余的引号或空格，"
        "主机记录中不要重复填写域名后缀。同时删除以前订单遗留的旧验证记录。",
    ),
    Fault(
        FaultId.DNS_VALIDATION_NOT_PROPAGATED, _W, "S1",
        "Validation TXT record not yet propagated",
        "The authoritative name servers serve the right TXT value but one or more configured "
        "recursive resolvers do not yet.",
        "域名验证 TXT 记录尚未生效",
        "权威名称服务器已返回正确的 TXT 记录值，但配置的递归解析器中仍有一个或多个尚未返回该值。",
        "Wait until cached answers expire (the record's TTL; in rare cases up to 48 hours) "
        "before asking the CA to validate again, and do not retrigger validation in a loop: "
        "CAs throttle repeated checks, so leave a few minutes between attempts. Flush the "
        "cache of any resolver you run that still returns the old answer.",
        "等待缓存的旧解析结果过期（取决于记录的 TTL，个别情况下最长 48 小时）后再让 CA 重新验证；"
        "不要反复触发验证，CA 会对频繁检查限流，两次尝试之间请间隔几分钟。如果自己维护的递归解析器"
        "仍返回旧结果，请清除其缓存。",
    ),
    Fault(
        FaultId.FILE_VALIDATION_REDIRECT, _C, "S1",
        "Validation file is redirected",
        "The file-validation URL under `/.well-known/pki-validation/` answers with a 3xx "
        "redirect, which fails validation.",
        "验证文件被重定向",
        "`/.well-known/pki-validation/` 下的文件验证 URL 返回 3xx 重定向，导致验证失败。",
        "The validation file must answer 200 directly at the URL the CA fetches. Remove the "
        "redirect for /.well-known/pki-validation/ (HTTP-to-HTTPS, www/non-www and rewrite "
        "rules in the web server, CDN or load balancer) at least until the certificate is issued.",
        "验证文件必须在 CA 访问的 URL 上直接返回 200。请在 Web 服务器、CDN 或负载均衡上为 "
        "/.well-known/pki-validation/ 路径去掉重定向（HTTP 跳转 HTTPS、www 跳转、改写规则等），"
        "至少保持到证书签发完成。",
    ),
    Fault(
        FaultId.FILE_VALIDATION_UNREACHABLE, _C, "S1",
        "Validation file unreachable",
        "The file-validation URL cannot be fetched with status 200 (connection error, 4xx "
        "or 5xx).",
        "无法访问验证文件",
        "无法以 200 状态码获取文件验证 URL（连接错误、4xx 或 5xx）。",
        "Put fileauth.txt in .well-known/pki-validation/ under the site's document root "
        "(check the path and file name, including case). Make sure the domain resolves to "
        "this server and that ports 80/443 are reachable from the internet, including from "
        "the CA's overseas vantage points, then fetch the URL from outside your network.",
        "把 fileauth.txt 放到网站根目录下的 .well-known/pki-validation/ 目录中（注意路径和文件名，"
        "包括大小写）。确认域名解析到这台服务器，且 80/443 端口对公网开放（包括 CA 位于境外的检测点），"
        "然后从外部网络访问该 URL 进行确认。",
    ),
    Fault(
        FaultId.FILE_VALIDATION_MISMATCH, _C, "S1",
        "Validation file has the wrong content",
        "The validation URL answers 200 but its body (whitespace-trimmed) is not the "
        "expected token.",
        "验证文件内容错误",
        "验证 URL 返回 200，但去除首尾空白后的内容不是预期的验证令牌。",
        "Replace the file's content with exactly the token from the current order (no HTML "
        "page, BOM or extra lines), and make sure no CDN or cache serves an older copy or a "
        "catch-all page instead of the file.",
        "把文件内容替换为当前订单给出的验证令牌，内容须完全一致（不要有 HTML 页面、BOM 或多余的行），"
        "并确认没有 CDN 或缓存返回旧文件，也没有用统一的默认页面代替该文件。",
    ),
    Fault(
        FaultId.CAA_FORBIDS_ISSUER, _C, "S1",
        "CAA records forbid the CA",
        "A relevant CAA record set exists and authorises none of the configured CA "
        "identifiers (`issue`, or `issuewild` for wildcard names).",
        "CAA 记录不允许该 CA 签发",
        "存在适用的 CAA 记录集，但其中没有授权任何已配置的 CA 标识（`issue`，"
        "通配符域名为 `issuewild`）。",
        "Add a CAA issue record for your CA at the name where the CAA set was found, e.g. "
        "`0 issue \"letsencrypt.org\"` (use `issuewild` for wildcard certificates), keeping "
        "the entries for other CAs you still use.",
        "在发现 CAA 记录集的那个域名上，为所用 CA 添加一条 CAA issue 记录，例如 "
        "`0 issue \"letsencrypt.org\"`（通配符证书使用 `issuewild`），同时保留仍在使用的其他 CA 的记录。",
    ),
    Fault(
        FaultId.CAA_CRITICAL_UNKNOWN_TAG, _C, "S1",
        "CAA record with an unknown critical tag",
        "The relevant CAA record set holds a record with the critical flag and a tag the CA "
        "does not understand, so no CA may issue.",
        "CAA 记录含无法识别的关键标签",
        "适用的 CAA 记录集中有一条设置了 critical 标志、且标签无法被 CA 识别的记录，"
        "因此任何 CA 都不能签发证书。",
        "At the name given in the report, delete the CAA record that has flag 128 (critical) "
        "and an unrecognised tag, or set its flag to 0. Issuance stays blocked for every CA "
        "until it is gone.",
        "在报告指出的域名上，删除那条标志位为 128（critical）且标签无法识别的 CAA 记录，或将其标志位"
        "改为 0。在它被处理之前，任何 CA 都无法签发证书。",
    ),
    Fault(
        FaultId.CAA_LOOKUP_FAILED, _W, "S1",
        "CAA lookup failed",
        "The CAA lookup failed (SERVFAIL or timeout), and CAs refuse to issue on such errors.",
        "CAA 查询失败",
        "CAA 查询失败（SERVFAIL 或超时），遇到此类错误时 CA 会拒绝签发证书。",
        "Make every authoritative name server answer CAA queries (an empty NOERROR answer is "
        "fine) instead of SERVFAIL or silence: check for broken DNSSEC signatures and for "
        "firewalls or DNS software that drop unknown record types. Test with "
        "`dig CAA <domain> @<name server>`.",
        "确保每台权威名称服务器都能正常响应 CAA 查询（返回空的 NOERROR 也可以），而不是 SERVFAIL "
        "或无响应：检查 DNSSEC 签名是否损坏，以及防火墙或 DNS 软件是否丢弃了不认识的记录类型。"
        "可用 `dig CAA <域名> @<名称服务器>` 测试。",
    ),
    # ---- S2 -------------------------------------------------------------
    Fault(
        FaultId.DOMAIN_REVIEW_RISK, _I, "S2",
        "Domain may fail the CA's security review",
        "The name is an IP address or single-label host, or contains a word or TLD that DV "
        "anti-phishing review often rejects.",
        "域名可能无法通过 CA 安全审核",
        "该名称是 IP 地址或单标签主机名，或包含 DV 证书反钓鱼审核常会拒绝的敏感词或顶级域名。",
        "Expect a DV order for this name to be held or rejected: buy an OV/EV certificate, "
        "which is vetted manually, or request the certificate for another name without the "
        "flagged word. For IP addresses and bare host names, use a fully qualified domain name.",
        "该域名的 DV 证书申请可能被人工审核拦截或拒绝：可以改买经人工审核的 OV/EV 证书，或改用不含"
        "敏感词的其他域名申请。IP 地址和不带域名后缀的主机名请改用完整域名（FQDN）。",
    ),
    # ---- S3 -------------------------------------------------------------
    Fault(
        FaultId.DNS_RESOLUTION_FAILED, _C, "S3",
        "Name does not resolve",
        "The name has no A/AAAA answer (NXDOMAIN, SERVFAIL, timeout or empty).",
        "域名无法解析",
        "该域名没有 A/AAAA 解析结果（NXDOMAIN、SERVFAIL、超时或空应答）。",
        "Add A and/or AAAA records for the name at its authoritative DNS provider, pointing at "
        "the server or load balancer that serves HTTPS. If records exist, look for a broken "
        "delegation, an expired domain or failing name servers with `dig +trace <name>`.",
        "在权威 DNS 服务商处为该域名添加 A 和/或 AAAA 记录，指向提供 HTTPS 服务的服务器或负载均衡。"
        "如果记录已存在，请用 `dig +trace <域名>` 排查委派错误、域名过期或名称服务器故障。",
    ),
    Fault(
        FaultId.DNS_UNEXPECTED_ADDRESS, _C, "S3",
        "Name resolves to an unexpected address",
        "The name resolves, but to an address outside the configured `expected_addresses`.",
        "域名解析到非预期地址",
        "该域名可以解析，但解析到的地址不在配置的 `expected_addresses` 之内。",
        "Point the A/AAAA records at the server's public address and remove stale records left "
        "by a migration, then allow the TTL to pass. If the move was intended, update "
        "`expected_addresses` instead.",
        "把 A/AAAA 记录改为指向服务器的公网地址，删除迁移后遗留的旧记录，并等待 TTL 过期生效。"
        "如果地址变更是预期的，请同步更新 `expected_addresses` 配置。",
    ),
    Fault(
        FaultId.TCP_CONNECT_REFUSED, _C, "S3",
        "HTTPS port refuses connections",
        "The connection to the HTTPS port is refused (port closed, nothing listening).",
        "HTTPS 端口拒绝连接",
        "连接 HTTPS 端口被拒绝（端口未开放，或没有程序在监听）。",
        "Start the web server or configure it to listen on port 443 on this address (not only "
        "on 127.0.0.1), and check that any load balancer or port mapping forwards 443 to it.",
        "启动 Web 服务，或将其配置为在该地址的 443 端口上监听（不要只监听 127.0.0.1），并检查负载均衡"
        "或端口映射是否把 443 转发到了它。",
    ),
    Fault(
        FaultId.TCP_CONNECT_TIMEOUT, _C, "S3",
        "HTTPS port times out",
        "The connection attempt to the HTTPS port times out (packets dropped by a firewall or "
        "security group).",
        "HTTPS 端口连接超时",
        "连接 HTTPS 端口超时（数据包被防火墙或安全组丢弃）。",
        "Allow inbound TCP 443 in the host firewall (firewalld, iptables, Windows Firewall) "
        "and in the cloud security group or network ACL of the instance, then retest from "
        "outside your network.",
        "在主机防火墙（firewalld、iptables、Windows 防火墙）以及云服务器的安全组或网络 ACL 中放行入站 "
        "TCP 443 端口，然后从外部网络重新测试。",
    ),
    Fault(
        FaultId.TLS_HANDSHAKE_FAILED, _C, "S3",
        "TLS handshake fails",
        "TCP connects but the TLS handshake fails (no certificate bound, protocol or cipher "
        "mismatch, reset).",
        "TLS 握手失败",
        "TCP 可以连通，但 TLS 握手失败（未绑定证书、协议或加密套件不匹配、连接被重置）。",
        "Bind a certificate and its private key to the HTTPS listener for this name and enable "
        "TLS 1.2 and 1.3 with current cipher suites; the web server's error log usually says "
        "why it dropped the handshake.",
        "为该域名的 HTTPS 监听绑定证书及其私钥，并启用 TLS 1.2 和 TLS 1.3 及常用的现代加密套件；"
        "Web 服务器的错误日志通常会说明握手被中断的原因。",
    ),
    Fault(
        FaultId.HTTPS_ERROR_STATUS, _W, "S3",
        "HTTPS answers with a server error",
        "HTTPS answers 5xx for the configured path.",
        "HTTPS 返回服务器错误",
        "访问配置的路径时，HTTPS 返回 5xx 状态码。",
        "Read the web server and application logs for the cause of the 5xx; for 502/504, check "
        "that the backend the HTTPS listener proxies to is running and reachable from the proxy.",
        "查看 Web 服务器和应用日志，找出 5xx 的原因；如果是 502/504，请检查 HTTPS 监听所反向代理的"
        "后端服务是否在运行，以及代理能否访问到它。",
    ),
    # ---- S4 -------------------------------------------------------------
    Fault(
        FaultId.HTTPS_STATUS_MISMATCH, _C, "S4",
        "HTTPS serves another site than HTTP",
        "The same path succeeds over HTTP but answers 404 (or another 4xx) over HTTPS: the "
        "HTTPS binding serves another site or root.",
        "HTTPS 与 HTTP 指向不同站点",
        "同一路径通过 HTTP 访问正常，通过 HTTPS 访问却返回 404（或其他 4xx）："
        "HTTPS 绑定指向了其他站点或根目录。",
        "Bind the certificate to the site that serves HTTP: in IIS, add the https binding "
        "(port 443, host name) to that site rather than to another or the default site; in "
        "nginx or Apache, give the TLS server block the same root or proxy settings as the "
        "port-80 one.",
        "把证书绑定到提供 HTTP 服务的同一个站点：在 IIS 中，把 https 绑定（443 端口、主机名）加到该站点，"
        "而不是其他站点或默认站点；在 nginx 或 Apache 中，让 TLS 的 server 块使用与 80 端口相同的根目录"
        "或反向代理配置。",
    ),
    # ---- S5 -------------------------------------------------------------
    Fault(
        FaultId.CERT_FILE_INVALID_PEM, _C, "S5",
        "Certificate file is not valid PEM",
        "The file has no PEM block, broken markers or bad base64, is DER instead of PEM, or "
        "holds a key where a certificate is expected.",
        "证书文件不是有效的 PEM 格式",
        "文件中没有 PEM 块、BEGIN/END 标记损坏或 base64 编码有误，或者文件是 DER 而非 PEM 格式，"
        "又或者在应放证书的位置放的是私钥。",
        "Supply the certificate as PEM: base64 text between `-----BEGIN CERTIFICATE-----` and "
        "`-----END CERTIFICATE-----` (convert DER with `openssl x509 -inform der -in cert.der "
        "-out cert.pem`). Keep the private key in its own file with its own BEGIN/END lines.",
        "以 PEM 格式提供证书：即位于 `-----BEGIN CERTIFICATE-----` 和 `-----END CERTIFICATE-----` "
        "之间的 base64 文本（DER 格式可用 `openssl x509 -inform der -in cert.der -out cert.pem` 转换）。"
        "私钥单独存放在另一个文件中，并带有它自己的 BEGIN/END 行。",
    ),
    Fault(
        FaultId.CERT_FILE_WHITESPACE, _W, "S5",
        "Stray whitespace in certificate file",
        "Lines carry leading or trailing spaces, the base64 contains spaces or blank lines, or "
        "line endings are mixed.",
        "证书文件含多余的空白字符",
        "行首或行尾有空格，base64 内容中夹有空格或空行，或者换行符混用。",
        "Strip spaces at line starts and ends, blank lines inside blocks and CRLF endings "
        "(e.g. with `dos2unix`), or rewrite the file with `openssl x509 -in cert.pem -out "
        "clean.pem`. Do not copy certificates through editors or chat tools that reflow text.",
        "删除行首行尾的空格、证书块内部的空行以及 CRLF 换行符（例如使用 `dos2unix`），或用 "
        "`openssl x509 -in cert.pem -out clean.pem` 重新生成文件。不要通过会自动排版的编辑器或聊天"
        "工具复制证书内容。",
    ),
    Fault(
        FaultId.CERT_FILE_CHAIN_INCOMPLETE, _W, "S5",
        "Certificate file chain incomplete",
        "The certificates in the file do not build a path to a trusted root.",
        "证书文件中的证书链不完整",
        "文件中的证书无法构建到受信任根证书的路径。",
        "Append the CA's intermediate certificate(s) after the leaf in the file; the bundle "
        "the CA provides for your server type normally contains them.",
        "在文件中服务器证书之后追加 CA 的中间证书；CA 为各类服务器提供的证书包中通常已包含这些中间证书。",
    ),
    Fault(
        FaultId.CERT_FILE_WRONG_ORDER, _W, "S5",
        "Certificate file out of order",
        "The certificates in the file are not leaf first, each followed by its issuer.",
        "证书文件中的证书顺序错误",
        "文件中的证书没有按“服务器（叶子）证书在前，其后依次是各自的签发者证书”的顺序排列。",
        "Reorder the file: the server (leaf) certificate first, then the intermediate that "
        "issued it, then that intermediate's issuer, and so on; the root can be left out.",
        "调整文件中证书的顺序：服务器（叶子）证书在最前，其后是签发它的中间证书，再往后是该中间证书的"
        "签发者，依此类推；根证书可以省略。",
    ),
    Fault(
        FaultId.CERT_FILE_KEY_MISMATCH, _C, "S5",
        "Private key does not match the certificate",
        "The given private key does not belong to the leaf certificate.",
        "私钥与证书不匹配",
        "所给的私钥不属于该服务器（叶子）证书。",
        "Use the private key that was generated with this certificate's CSR; compare "
        "`openssl x509 -noout -pubkey -in cert.pem` with `openssl pkey -pubout -in key.pem`. "
        "If that key is lost, create a new key and CSR and reissue the certificate.",
        "使用生成该证书 CSR 时创建的私钥；可以对比 `openssl x509 -noout -pubkey -in cert.pem` 与 "
        "`openssl pkey -pubout -in key.pem` 的输出。如果原私钥已丢失，请重新生成私钥和 CSR 并重新签发证书。",
    ),
    # ---- S7 -------------------------------------------------------------
    Fault(
        FaultId.CERT_EXPIRED, _C, "S7",
        "Certificate expired",
        "The leaf certificate's notAfter date has passed.",
        "证书已过期",
        "服务器证书的到期时间（notAfter）已过。",
        "Renew or reissue the certificate now, install it with its intermediates on every "
        "server and address behind the name, and reload the service. Automate renewal "
        "(e.g. ACME) so it does not happen again.",
        "立即续费或重新签发证书，将其连同中间证书部署到该域名背后的每台服务器和每个地址上，并重新加载服务。"
        "建议使用自动续期（例如 ACME），避免再次过期。",
    ),
    Fault(
        FaultId.CERT_EXPIRING_SOON, _W, "S7",
        "Certificate expiring soon",
        "The leaf certificate expires within the configured threshold (default 21 days).",
        "证书即将过期",
        "服务器证书将在配置的阈值内到期（默认 21 天）。",
        "Renew the certificate and deploy it to every server behind the name before it "
        "expires, and check that the renewal job also reloads the web server. Lifetimes are "
        "shrinking (at most 200 days for certificates issued from 2026-03-15), so automate it.",
        "在证书到期前完成续期并部署到该域名背后的所有服务器，同时确认续期任务会重新加载 Web 服务。"
        "证书有效期正在缩短（2026-03-15 起签发的证书最长 200 天），请尽量自动化续期。",
    ),
    Fault(
        FaultId.CHAIN_CERT_EXPIRED, _C, "S7",
        "Intermediate certificate expired",
        "An intermediate certificate the server sends has expired.",
        "中间证书已过期",
        "服务器发送的某张中间证书已过期。",
        "Replace the expired intermediate in the served chain with the CA's current "
        "intermediate for your certificate (from the CA's site or a freshly downloaded "
        "bundle), then reload the server.",
        "把服务器发送的证书链中已过期的中间证书替换为 CA 当前对应的中间证书（可从 CA 网站或新下载的"
        "证书包中获取），然后重新加载服务。",
    ),
    Fault(
        FaultId.CERT_NOT_YET_VALID, _C, "S7",
        "Certificate not yet valid",
        "The leaf certificate's notBefore date is in the future.",
        "证书尚未生效",
        "服务器证书的生效时间（notBefore）还未到。",
        "Keep serving the previous, still-valid certificate until the new one's notBefore, or "
        "reissue it. Check that the clocks of the exporter host and the issuing system are "
        "synchronised (NTP), since clock skew also causes this.",
        "在新证书的生效时间（notBefore）到来之前继续使用原来仍有效的证书，或重新签发。同时检查运行 "
        "exporter 的主机和签发系统的时钟是否已同步（NTP），时钟偏差也会导致此问题。",
    ),
    Fault(
        FaultId.CERT_HOSTNAME_MISMATCH, _C, "S7",
        "Certificate does not cover the host name",
        "The certificate presented with SNI does not cover the host name.",
        "证书与域名不匹配",
        "带 SNI 访问时，服务器出示的证书不包含该域名。",
        "Install a certificate whose SAN list contains this exact name or a matching wildcard "
        "(a wildcard covers one label only), or reissue with the name added. If the right "
        "certificate exists, make the server select it for this name (server_name / SNI binding).",
        "安装 SAN 列表中包含该域名（或能匹配它的通配符，通配符只覆盖一级子域名）的证书，或把该域名加入后"
        "重新签发。如果正确的证书已存在，请让服务器为该域名选用它（检查 server_name / SNI 绑定）。",
    ),
    Fault(
        FaultId.CERT_UNTRUSTED, _C, "S7",
        "Certificate not trusted",
        "No path to a trusted root exists even after fetching intermediates (self-signed, "
        "private CA or unknown root), judged as OpenSSL and browsers judge it.",
        "证书不受信任",
        "即使补全了中间证书，仍无法构建到受信任根证书的路径（自签名证书、私有 CA 或未知的根证书），"
        "判断方式与 OpenSSL 和浏览器一致。",
        "Replace the self-signed or private-CA certificate with one from a publicly trusted "
        "CA. For internal-only services, install the private root in every client's trust "
        "store instead.",
        "把自签名证书或私有 CA 签发的证书替换为公开受信任 CA 签发的证书。仅供内部使用的服务，也可以"
        "改为把私有根证书安装到每个客户端的信任库中。",
    ),
    Fault(
        FaultId.CERT_LIFETIME_EXCEEDS_POLICY, _W, "S7",
        "Certificate lifetime exceeds policy",
        "The certificate's validity period exceeds the CA/Browser Forum maximum in force at "
        "its notBefore date (chains to publicly trusted roots), or the maximum the operator set "
        "for a private CA.",
        "证书有效期超出规定上限",
        "证书的有效期超过了其生效时间（notBefore）当时 CA/浏览器论坛（CA/Browser Forum）"
        "规定的最长期限（仅适用于链接到公开受信任根证书的证书链），或超过了运维人员为私有 CA 设定的上限。",
        "Reissue with a validity no longer than the maximum at issuance: 398 days before "
        "2026-03-15, 200 days from 2026-03-15, 100 days from 2027-03-15 and 47 days from "
        "2029-03-15. Clients may reject over-long certificates; automate renewal.",
        "重新签发证书，有效期不超过签发时的上限：2026-03-15 之前为 398 天，2026-03-15 起为 200 天，"
        "2027-03-15 起为 100 天，2029-03-15 起为 47 天。有效期超限的证书可能被客户端拒绝，请实现自动续期。",
    ),
    Fault(
        FaultId.CERT_WEAK_CRYPTO, _W, "S7",
        "Weak certificate cryptography",
        "The leaf or an intermediate has an RSA key under 2048 bits or an EC key under 256 "
        "bits (below the CA/Browser Forum minimum; browsers still accept it).",
        "证书使用弱加密算法",
        "服务器证书或中间证书使用小于 2048 位的 RSA 密钥或小于 256 位的 EC 密钥（低于 CA/浏览器论坛的"
        "最低要求，浏览器仍会接受）。",
        "Generate a new key of at least RSA 2048 bits or ECDSA P-256, reissue the certificate "
        "with a SHA-256 (or stronger) signature, and replace it on all servers.",
        "生成至少 RSA 2048 位或 ECDSA P-256 的新密钥，重新签发使用 SHA-256（或更强）签名算法的证书，"
        "并在所有服务器上替换。",
    ),
    Fault(
        FaultId.CERT_CRYPTO_REJECTED, _C, "S7",
        "Certificate uses cryptography browsers refuse",
        "The leaf or an intermediate is signed with MD5 or SHA-1, or has an RSA key under 1024 "
        "bits: browsers refuse the certificate outright.",
        "证书使用了浏览器拒绝的加密算法",
        "服务器证书或中间证书使用 MD5 或 SHA-1 签名，或 RSA 密钥短于 1024 位：浏览器会直接拒绝该证书。",
        "Reissue the certificate with SHA-256 (or stronger) and an RSA key of at least 2048 bits "
        "or an ECDSA P-256 key. If the intermediate is the problem, install the CA's current "
        "SHA-256 intermediate instead of the old one.",
        "使用 SHA-256（或更强）签名算法，以及至少 2048 位的 RSA 密钥或 ECDSA P-256 密钥重新签发证书。"
        "如果问题出在中间证书，请改为安装 CA 当前的 SHA-256 中间证书。",
    ),
    Fault(
        FaultId.MIXED_CONTENT_BLOCKABLE, _C, "S7",
        "Blockable mixed content",
        "The HTTPS page loads scripts, stylesheets, frames, objects, fonts or fetch targets "
        "over `http://`, which browsers block.",
        "会被拦截的混合内容",
        "HTTPS 页面通过 `http://` 加载脚本、样式表、框架、对象、字体或 fetch 请求目标，"
        "浏览器会将其拦截。",
        _MIXED_EN,
        _MIXED_ZH,
    ),
    Fault(
        FaultId.MIXED_CONTENT_UPGRADABLE, _W, "S7",
        "Upgradable mixed content",
        "The HTTPS page loads images, audio or video over `http://`, so browsers warn, "
        "upgrade the request or show \"not secure\".",
        "可升级的混合内容",
        "HTTPS 页面通过 `http://` 加载图片、音频或视频，浏览器会发出警告、自动把请求升级为 HTTPS，"
        "或显示“不安全”。",
        _MIXED_EN,
        _MIXED_ZH,
    ),
    # ---- S8 -------------------------------------------------------------
    Fault(
        FaultId.SNI_DEFAULT_CERT_MISMATCH, _I, "S8",
        "Default (no-SNI) certificate does not cover the host name",
        "Without SNI the server presents a certificate that does not cover the host name.",
        "默认（无 SNI）证书不包含该域名",
        "不带 SNI 访问时，服务器出示的证书不包含该域名。",
        "Make the certificate served without SNI cover this name: set it as the default "
        "(nginx `default_server`, Apache's first VirtualHost, the IIS binding without host "
        "name), or use one SAN/wildcard certificate for all names on that IP and port. On "
        "IIS 7 (Windows Server 2008) set the binding's host name with `appcmd` or in "
        "applicationHost.config, since the UI greys the field out.",
        "让不带 SNI 时返回的证书也覆盖该域名：把它设为默认证书（nginx 的 `default_server`、Apache 的"
        "第一个 VirtualHost、IIS 中不带主机名的绑定），或在该 IP 和端口上使用一张包含所有域名的 SAN/通配符"
        "证书。在 IIS 7（Windows Server 2008）中界面上的主机名无法填写，请用 `appcmd` 或直接编辑 "
        "applicationHost.config 设置绑定的主机名。",
    ),
    # ---- S9 -------------------------------------------------------------
    Fault(
        FaultId.CHAIN_INCOMPLETE, _C, "S9",
        "Intermediate certificate missing",
        "The served certificates do not reach a trusted root, but a path exists once the "
        "missing issuer is fetched from the AIA caIssuers URL.",
        "缺少中间证书",
        "服务器发送的证书无法链接到受信任的根证书，但从 AIA caIssuers 地址获取缺失的签发者证书后即可"
        "构建完整路径。",
        "Install the CA's intermediate certificate matching your certificate's key type (RSA "
        "or ECC; the report gives its subject and download URL) and serve the full chain, "
        "leaf first. On IIS import it into the local computer's Intermediate Certification "
        "Authorities store and rebind the site; on nginx append it to the certificate file.",
        "安装与证书密钥类型（RSA 或 ECC）匹配的 CA 中间证书（报告中给出了它的主题和下载地址），并发送"
        "完整证书链，服务器证书在最前。IIS 上请将其导入本地计算机的“中级证书颁发机构”存储区后重新绑定站点；"
        "nginx 上请将其追加到证书文件中。",
    ),
    Fault(
        FaultId.CHAIN_WRONG_ORDER, _W, "S9",
        "Chain served out of order",
        "The server sends its certificate chain out of order.",
        "证书链顺序错误",
        "服务器发送的证书链顺序错误。",
        "Reorder the chain file the server uses: leaf first, then each issuer in turn, and "
        "reload the server.",
        "调整服务器所用证书链文件的顺序：服务器证书在最前，其后依次是各级签发者证书，然后重新加载服务。",
    ),
    Fault(
        FaultId.CHAIN_CONTAINS_ROOT, _I, "S9",
        "Chain includes the root certificate",
        "The server also sends the self-signed root certificate.",
        "证书链中包含根证书",
        "服务器额外发送了自签名的根证书。",
        "Optionally drop the root from the chain file: clients use their own copy, so sending "
        "it only adds bytes to every handshake.",
        "可以从证书链文件中删除根证书：客户端使用自己信任库中的根证书，发送它只会增加每次握手的数据量。",
    ),
    Fault(
        FaultId.CHAIN_EXTRA_CERTS, _I, "S9",
        "Chain contains unrelated certificates",
        "The server sends certificates that are not on the path from the leaf to the root.",
        "证书链中包含无关证书",
        "服务器发送了不在“服务器证书到根证书”路径上的证书。",
        "Remove certificates that are not on the leaf-to-root path (old intermediates, other "
        "sites' certificates) from the chain file and reload the server.",
        "从证书链文件中删除不在“服务器证书到根证书”路径上的证书（如旧的中间证书、其他站点的证书），"
        "然后重新加载服务。",
    ),
    # ---- Beyond the guide ------------------------------------------------
    Fault(
        FaultId.CERT_REVOKED, _C, "extra",
        "Certificate revoked",
        "The leaf certificate's OCSP responder reports it as revoked.",
        "证书已被吊销",
        "服务器证书的 OCSP 响应服务器报告该证书已被吊销。",
        "Issue and install a new certificate with a new private key at once, and ask the CA "
        "why the old one was revoked (key compromise, mis-issuance, your own request) before "
        "relying on anything tied to it.",
        "立即使用新私钥签发并部署新证书，并向 CA 确认旧证书被吊销的原因（私钥泄露、错误签发或自己申请吊销），"
        "在此之前不要继续使用与其相关的任何密钥材料。",
    ),
    Fault(
        FaultId.TLS_LEGACY_PROTOCOL, _W, "extra",
        "Legacy TLS versions accepted",
        "The server still accepts TLS 1.0 or TLS 1.1.",
        "仍接受旧版 TLS 协议",
        "服务器仍然接受 TLS 1.0 或 TLS 1.1。",
        "Disable TLS 1.0 and 1.1 and keep 1.2 and 1.3: nginx `ssl_protocols TLSv1.2 "
        "TLSv1.3;`, Apache `SSLProtocol -all +TLSv1.2 +TLSv1.3`, IIS through the SCHANNEL "
        "protocol registry keys (then reboot).",
        "关闭 TLS 1.0 和 1.1，保留 1.2 和 1.3：nginx 配置 `ssl_protocols TLSv1.2 TLSv1.3;`，Apache "
        "配置 `SSLProtocol -all +TLSv1.2 +TLSv1.3`，IIS 通过 SCHANNEL 协议注册表项关闭（修改后需重启）。",
    ),
    Fault(
        FaultId.HTTP_NOT_REDIRECTED, _I, "extra",
        "HTTP not redirected to HTTPS",
        "Plain HTTP on port 80 serves content instead of redirecting to HTTPS.",
        "HTTP 未重定向到 HTTPS",
        "80 端口上的普通 HTTP 直接返回内容，而没有重定向到 HTTPS。",
        "Make port 80 answer with a 301 redirect to the same URL over https://, but leave "
        "/.well-known/pki-validation/ unredirected while file validation is in use.",
        "让 80 端口对所有请求返回 301，重定向到同一 URL 的 https:// 地址；但在使用文件验证期间，"
        "/.well-known/pki-validation/ 路径不要重定向。",
    ),
    Fault(
        FaultId.HSTS_MISSING, _I, "extra",
        "HSTS header missing",
        "The HTTPS response carries no Strict-Transport-Security header.",
        "缺少 HSTS 响应头",
        "HTTPS 响应中没有 Strict-Transport-Security 响应头。",
        "Add a `Strict-Transport-Security` header to HTTPS responses, starting with a short "
        "max-age (e.g. 300) and raising it to a year (31536000) once HTTPS is stable; add "
        "includeSubDomains only when every subdomain works over HTTPS.",
        "在 HTTPS 响应中添加 `Strict-Transport-Security` 头，先设置较短的 max-age（如 300），HTTPS "
        "稳定后再提高到一年（31536000）；只有在所有子域名都支持 HTTPS 时才加上 includeSubDomains。",
    ),
    Fault(
        FaultId.MIXED_CONTENT_FORM, _W, "extra",
        "Form submits to plain HTTP",
        "An HTTPS page holds a form whose action is an http: URL: Chromium warns before submitting "
        "and drops the padlock.",
        "表单提交到明文 HTTP",
        "HTTPS 页面中有表单的 action 指向 http: 地址：Chromium 会在提交前发出警告，并去掉地址栏的锁形图标。",
        "Change the form's action to an https:// (or relative) URL; if the receiving endpoint has no "
        "HTTPS, serve it over HTTPS first.",
        "把表单的 action 改为 https:// 地址（或相对路径）；如果接收端不支持 HTTPS，请先为其启用 HTTPS。",
    ),
    Fault(
        FaultId.HTTPS_REDIRECTS_TO_HTTP, _C, "extra",
        "HTTPS redirects to plain HTTP",
        "The HTTPS URL redirects to a plain http: URL, taking visitors off HTTPS.",
        "HTTPS 重定向到明文 HTTP",
        "HTTPS 地址被重定向到明文 http: 地址，访问者因此离开了 HTTPS。",
        "Fix the redirect rule (web server, load balancer or application base URL) so HTTPS "
        "requests stay on https://; behind a TLS-terminating proxy, make the application honour "
        "X-Forwarded-Proto.",
        "修改重定向规则（Web 服务器、负载均衡或应用配置的站点地址），让 HTTPS 请求始终停留在 https://；"
        "如果 TLS 在代理上终止，请让应用识别 X-Forwarded-Proto 头。",
    ),
    Fault(
        FaultId.TLS_MODERN_PROTOCOL_UNSUPPORTED, _C, "extra",
        "Neither TLS 1.2 nor TLS 1.3 is accepted",
        "The server accepts neither TLS 1.2 nor TLS 1.3: current browsers refuse to connect.",
        "不支持 TLS 1.2 和 TLS 1.3",
        "服务器既不接受 TLS 1.2 也不接受 TLS 1.3：当前的浏览器无法与其建立连接。",
        "Enable TLS 1.2 and TLS 1.3 in the web server or load balancer (e.g. nginx "
        "`ssl_protocols TLSv1.2 TLSv1.3;`, an IIS/Windows update with TLS 1.2 enabled), then "
        "disable TLS 1.0 and 1.1.",
        "在 Web 服务器或负载均衡上启用 TLS 1.2 和 TLS 1.3（例如 nginx `ssl_protocols TLSv1.2 TLSv1.3;`，"
        "或为 IIS/Windows 安装更新并启用 TLS 1.2），然后关闭 TLS 1.0 和 1.1。",
    ),
    Fault(
        FaultId.TLS_INSECURE_CIPHER, _C, "extra",
        "Insecure cipher suites accepted",
        "The server accepts NULL, anonymous or export cipher suites, or a DH group under 1024 bits.",
        "接受不安全的加密套件",
        "服务器接受 NULL、匿名或出口级加密套件，或使用短于 1024 位的 DH 参数。",
        "Remove the named suites from the server's cipher list (nginx: `ssl_ciphers` with "
        "`!aNULL:!eNULL:!EXPORT`), and use ECDHE or DH parameters of at least 2048 bits.",
        "从服务器的加密套件列表中删除报告中列出的套件（nginx 可在 `ssl_ciphers` 中加入 "
        "`!aNULL:!eNULL:!EXPORT`），并使用 ECDHE 或至少 2048 位的 DH 参数。",
    ),
    Fault(
        FaultId.TLS_WEAK_CIPHER, _W, "extra",
        "Weak cipher configuration",
        "The server accepts a DH group under 2048 bits, offers no forward secrecy (static RSA key "
        "exchange only) or no AEAD suite at all.",
        "加密套件配置较弱",
        "服务器接受短于 2048 位的 DH 参数、不提供前向保密（只有 RSA 密钥交换），或完全没有 AEAD 套件。",
        "Prefer ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 suites (e.g. Mozilla's "
        "\"intermediate\" configuration), and generate DH parameters of 2048 bits or more if DHE stays.",
        "优先使用 ECDHE 密钥交换和 AES-GCM 或 ChaCha20-Poly1305 套件（例如 Mozilla 的 “intermediate” 配置）；"
        "如果仍保留 DHE，请生成至少 2048 位的 DH 参数。",
    ),
    Fault(
        FaultId.TLS_CLIENT_CERT_REQUIRED, _I, "extra",
        "Server demands a client certificate",
        "The server demands a client certificate; without one configured for the target, the "
        "HTTP-layer checks cannot judge.",
        "服务器要求客户端证书",
        "服务器要求提供客户端证书；如果没有为该目标配置客户端证书，HTTP 层的检查无法作出判断。",
        "If mutual TLS is intended, configure a client certificate and key for this target "
        "(`client_cert` / `client_key`) so its pages can be checked; if not, turn off client "
        "certificate verification on the server (nginx `ssl_verify_client off;`).",
        "如果有意使用双向 TLS，请为该目标配置客户端证书和私钥（`client_cert` / `client_key`），以便检查其页面；"
        "如果并非有意，请在服务器上关闭客户端证书校验（nginx `ssl_verify_client off;`）。",
    ),
)
# fmt: on

FAULTS: Mapping[FaultId, Fault] = MappingProxyType({f.id: f for f in _ENTRIES})

# Fail at import if an id lacks an entry or is listed twice.
if len(FAULTS) != len(_ENTRIES) or set(FAULTS) != set(FaultId):
    raise RuntimeError("exporter.catalog.faults: catalog entries do not match FaultId")


def get_fault(fault_id: str | FaultId) -> Fault:
    """Return the catalog entry for an id; KeyError if the id is unknown."""
    try:
        return FAULTS[FaultId(fault_id)]
    except ValueError:
        msg = f"unknown fault id {str(fault_id)!r} (not in exporter.catalog.faults.FaultId)"
        raise KeyError(msg) from None


def _cell(text: str) -> str:
    """Make text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(checks_of: Callable[[FaultId], str]) -> str:
    """Render the catalog as Markdown: a table per section (titles in en and zh), then remedies.

    `checks_of` names the check(s) that detect a fault (the check registry knows; the catalog does not).

    Each remedy entry opens with the Chinese summary (the English one is in the table).
    """
    out: list[str] = [
        "<!-- Generated by `python -m exporter.docs faults > docs/faults.md`; do not edit by hand. -->",
        "",
        "# Fault catalog",
        "",
        "Severities: `critical` = visitors are hurt or issuance is blocked now; "
        "`warning` = will hurt soon or hurts some clients; `info` = worth knowing. "
        "Ids are stable: they are metric labels, JSON keys and alert labels.",
    ]
    for section, heading in SECTIONS.items():
        faults = [f for f in FAULTS.values() if f.section == section]
        label = heading if section == "extra" else f"{section} {heading}"
        out += ["", f"## {label}", ""]
        if not faults:
            out.append(_SECTION_NOTES.get(section, "No ids of its own."))
            continue
        out += [
            "| id | severity | check | title | 标题 | summary |",
            "|---|---|---|---|---|---|",
        ]
        out += [
            f"| `{f.id}` | {f.severity} | {checks_of(f.id)} | {_cell(f.title)} | {_cell(f.title_zh)} "
            f"| {_cell(f.summary)} |"
            for f in faults
        ]
        if section in _SECTION_NOTES:
            out += ["", _SECTION_NOTES[section]]
        out += ["", "### Remedies"]
        for f in faults:
            out += [
                "",
                f"#### `{f.id}`: {f.title}",
                "",
                f"**摘要**：{f.summary_zh}",
                "",
                f"- **en**: {f.remedy_en}",
                f"- **zh**: {f.remedy_zh}",
            ]
    return "\n".join(out) + "\n"

