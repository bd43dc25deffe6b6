"""Runbooks: one entry per fault id (meaning, how to confirm by hand, how to fix), English and Chinese.

The meaning and the fix come from the catalog (`exporter.catalog.faults`); this module adds the
Chinese meaning and the commands to confirm each fault by hand. Alerts link to the
entries by anchor (`docs/runbooks.md#<fault id>`, plus the exporter-health anchors below).

Regenerate with ``python -m exporter.docs runbooks > docs/runbooks.md``; a test keeps it in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from exporter.catalog.faults import FAULTS, SECTIONS, FaultId
from exporter.catalog.health_runbooks import HEALTH

__all__ = ["HEALTH", "RUNBOOKS", "Runbook", "anchors", "render_markdown"]


@dataclass(frozen=True)
class Runbook:
    meaning_zh: str
    confirm: str  # shell commands; HOST, ADDRESS, PORT, DOMAIN, NS are placeholders
    look_en: str  # what in the output confirms the fault
    look_zh: str


def _s_client(options: str = "", quiet: bool = True) -> str:
    """`openssl s_client` against one address with SNI; quiet drops its diagnostics on stderr."""
    extra = f" {options}" if options else ""
    return f"openssl s_client -connect ADDRESS:PORT -servername HOST{extra} </dev/null" + (" 2>/dev/null" if quiet else "")


_S_CLIENT = _s_client()
_SHOWCERTS = f"{_s_client('-showcerts')} | grep -E '^ *[0-9]+ s:|^ +i:'"
_LEAF = f"{_S_CLIENT} \\\n  | openssl x509 -noout"

_F = FaultId
# fmt: off
RUNBOOKS: Mapping[FaultId, Runbook] = MappingProxyType({
    _F.DNS_VALIDATION_RECORD_MISSING: Runbook(
        "域名的权威名称服务器上没有域名验证所需的 TXT 记录（默认主机记录为 `_dnsauth.<域名>`）。",
        "dig +short NS DOMAIN\ndig +norecurse TXT _dnsauth.DOMAIN @NS   # for every NS listed above",
        "The authoritative answer has status NOERROR or NXDOMAIN and no TXT record in the ANSWER section.",
        "权威服务器的应答状态为 NOERROR 或 NXDOMAIN，且 ANSWER 部分没有 TXT 记录。",
    ),
    _F.DNS_VALIDATION_RECORD_MISMATCH: Runbook(
        "验证主机名下存在 TXT 记录，但没有一条与 CA 要求的值相同。",
        "dig +short TXT _dnsauth.DOMAIN @NS",
        "TXT values are returned, but none equals the value in the CA's order (compare character by character).",
        "能查到 TXT 记录值，但没有一条与 CA 订单中的值完全一致（请逐字比对）。",
    ),
    _F.DNS_VALIDATION_NOT_PROPAGATED: Runbook(
        "权威服务器已返回正确的 TXT 值，但一个或多个配置的递归解析器仍未返回（尚未生效）。",
        "dig +short TXT _dnsauth.DOMAIN @NS        # authoritative: the right value\n"
        "dig +short TXT _dnsauth.DOMAIN @8.8.8.8   # each configured resolver\n"
        "dig TXT _dnsauth.DOMAIN @8.8.8.8 | grep -A1 'ANSWER SECTION'   # the TTL left",
        "The authoritative server returns the right value while a resolver returns nothing or an old value.",
        "权威服务器返回正确值，而某个递归解析器返回空结果或旧值。",
    ),
    _F.FILE_VALIDATION_REDIRECT: Runbook(
        "文件验证 URL（`/.well-known/pki-validation/` 下）返回 3xx 重定向，验证会因此失败。",
        "curl -sS -o /dev/null -w '%{http_code} %{redirect_url}\\n' \\\n"
        "  http://HOST/.well-known/pki-validation/fileauth.txt",
        "A 301/302/307/308 status and a redirect URL instead of 200.",
        "返回 301/302/307/308 状态码和重定向地址，而不是 200。",
    ),
    _F.FILE_VALIDATION_UNREACHABLE: Runbook(
        "无法以 200 状态获取文件验证 URL（连接错误、4xx 或 5xx）。",
        "curl -sSv -o /dev/null http://HOST/.well-known/pki-validation/fileauth.txt",
        "A connection error, or a 4xx/5xx status line in the response headers.",
        "出现连接错误，或响应头中的状态行为 4xx/5xx。",
    ),
    _F.FILE_VALIDATION_MISMATCH: Runbook(
        "验证 URL 返回 200，但去除首尾空白后的内容不是预期的验证令牌。",
        "curl -sS http://HOST/.well-known/pki-validation/fileauth.txt | od -c | head",
        "The body is not exactly the token: an HTML page, a BOM (357 273 277), extra lines or another token.",
        "返回内容不完全是验证令牌：例如 HTML 页面、BOM（357 273 277）、多余的行或其他令牌。",
    ),
    _F.CAA_FORBIDS_ISSUER: Runbook(
        "存在适用于该域名的 CAA 记录集，但其中没有授权任何已配置的 CA 标识（通配符域名看 `issuewild`）。",
        "dig +short CAA HOST\ndig +short CAA DOMAIN   # climb one label at a time until a CAA set is found",
        "The first CAA set found up the tree has `issue` (or `issuewild`) records, none naming your CA.",
        "沿域名逐级向上找到的第一个 CAA 记录集中有 `issue`（或 `issuewild`）记录，但没有一条是你的 CA。",
    ),
    _F.CAA_CRITICAL_UNKNOWN_TAG: Runbook(
        "适用的 CAA 记录集中有一条设置了 critical 标志且标签无法识别的记录，任何 CA 都不能签发。",
        "dig +short CAA HOST\ndig +short CAA DOMAIN",
        "A record that starts with flag 128 and a tag other than issue, issuewild, iodef, issuemail, issuevmc, "
        "contactemail, contactphone.",
        "某条记录以标志 128 开头，且标签不是 issue、issuewild、iodef、issuemail、issuevmc、contactemail、"
        "contactphone 之一。",
    ),
    _F.CAA_LOOKUP_FAILED: Runbook(
        "CAA 查询失败（SERVFAIL 或超时），CA 遇到这种错误会拒绝签发。",
        "dig +short NS DOMAIN\ndig CAA HOST @NS   # for every NS listed above",
        "`status: SERVFAIL`, `REFUSED` or `connection timed out` from at least one name server.",
        "至少一台名称服务器返回 `status: SERVFAIL`、`REFUSED` 或 `connection timed out`。",
    ),
    _F.DOMAIN_REVIEW_RISK: Runbook(
        "该名称是 IP 地址或单标签主机名，或包含 DV 证书反钓鱼审核经常拒绝的敏感词或顶级域。",
        "sslfault diagnose HOST --check domain_review",
        "The report names the word, TLD or form (IP, single label) that may trigger the review.",
        "报告会指出可能触发审核的敏感词、顶级域或名称形式（IP、单标签）。",
    ),
    _F.DNS_RESOLUTION_FAILED: Runbook(
        "该名称没有 A/AAAA 解析结果（NXDOMAIN、SERVFAIL、超时或空应答）。",
        "dig HOST A +noall +comments +answer\ndig HOST AAAA +noall +comments +answer\ndig +trace HOST",
        "`status: NXDOMAIN` or `SERVFAIL`, a timeout, or NOERROR with an empty ANSWER section; +trace shows "
        "where the delegation breaks.",
        "出现 `status: NXDOMAIN` 或 `SERVFAIL`、超时，或 NOERROR 但 ANSWER 部分为空；+trace 可显示委派在哪一级中断。",
    ),
    _F.DNS_UNEXPECTED_ADDRESS: Runbook(
        "该名称能够解析，但解析到了配置的 `expected_addresses` 之外的地址。",
        "dig +short HOST A\ndig +short HOST AAAA\ndig +short HOST A @NS   # what the authoritative server says",
        "An address that is not in the target's expected_addresses.",
        "出现不在该目标 expected_addresses 中的地址。",
    ),
    _F.TCP_CONNECT_REFUSED: Runbook(
        "连接 HTTPS 端口被拒绝（端口未开放，或没有程序在监听）。",
        "nc -vz -w 5 ADDRESS PORT\nss -ltnp | grep ':PORT'   # on the server",
        "`Connection refused` from nc; on the server, nothing listens on PORT for that address.",
        "nc 输出 `Connection refused`；在服务器上看不到监听该地址 PORT 端口的进程。",
    ),
    _F.TCP_CONNECT_TIMEOUT: Runbook(
        "连接 HTTPS 端口超时（数据包被防火墙或安全组丢弃）。",
        "nc -vz -w 5 ADDRESS PORT\ncurl -sS --connect-timeout 5 -o /dev/null https://HOST:PORT/",
        "`timed out` from nc and curl (not `refused`): packets are dropped on the way.",
        "nc 和 curl 显示 `timed out`（而不是 `refused`）：数据包在途中被丢弃。",
    ),
    _F.TLS_HANDSHAKE_FAILED: Runbook(
        "TCP 可以连通，但 TLS 握手失败（未绑定证书、协议或加密套件不匹配、连接被重置）。",
        _s_client(quiet=False),
        "`handshake failure`, `wrong version number`, `unexpected eof` or no certificate at all "
        "(`no peer certificate available`).",
        "出现 `handshake failure`、`wrong version number`、`unexpected eof`，或根本没有证书"
        "（`no peer certificate available`）。",
    ),
    _F.HTTPS_ERROR_STATUS: Runbook(
        "对于配置的路径，HTTPS 返回 5xx 服务器错误。",
        "curl -sS -o /dev/null -w '%{http_code}\\n' https://HOST:PORT/PATH",
        "A 5xx status code.",
        "返回 5xx 状态码。",
    ),
    _F.HTTPS_STATUS_MISMATCH: Runbook(
        "同一路径通过 HTTP 访问成功，但通过 HTTPS 访问返回 404（或其他 4xx）：HTTPS 绑定指向了其他站点或根目录。",
        "curl -sS -o /dev/null -w '%{http_code}\\n' http://HOST/PATH\n"
        "curl -sS -o /dev/null -w '%{http_code}\\n' https://HOST/PATH",
        "HTTP gives 2xx (or a redirect to https://) while HTTPS gives 404 or another 4xx.",
        "HTTP 返回 2xx（或重定向到 https://），而 HTTPS 返回 404 或其他 4xx。",
    ),
    _F.CERT_FILE_INVALID_PEM: Runbook(
        "证书文件无法解析：没有 PEM 块、BEGIN/END 标记损坏、base64 错误、需要 PEM 时给了 DER，或把私钥当成了证书。",
        "sslfault lint-cert cert.pem\nopenssl x509 -in cert.pem -noout -subject\nhead -1 cert.pem; file cert.pem",
        "openssl says `unable to load certificate`; the first line is not `-----BEGIN CERTIFICATE-----`.",
        "openssl 提示 `unable to load certificate`；首行不是 `-----BEGIN CERTIFICATE-----`。",
    ),
    _F.CERT_FILE_WHITESPACE: Runbook(
        "证书文件中有多余空白：行首行尾有空格、base64 内有空格或空行，或换行符混用。",
        "sslfault lint-cert cert.pem\ncat -A cert.pem | grep -nE '^ | \\$$|\\^M|^\\$$'",
        "Lines with leading or trailing spaces, `^M` (CRLF) endings or empty lines inside a block.",
        "存在行首或行尾空格、`^M`（CRLF）换行符，或证书块内部有空行。",
    ),
    _F.CERT_FILE_CHAIN_INCOMPLETE: Runbook(
        "文件中的证书无法构建到受信任根证书的路径（缺少中间证书）。",
        "sslfault lint-cert fullchain.pem\nopenssl crl2pkcs7 -nocrl -certfile fullchain.pem | openssl pkcs7 -print_certs -noout",
        "The last certificate's issuer is neither in the file nor a root in the trust store.",
        "文件中最后一张证书的签发者既不在文件中，也不是信任库中的根证书。",
    ),
    _F.CERT_FILE_WRONG_ORDER: Runbook(
        "文件中的证书顺序不是“服务器证书在前、其后依次是各自的签发者”。",
        "openssl crl2pkcs7 -nocrl -certfile fullchain.pem | openssl pkcs7 -print_certs -noout",
        "Some certificate's issuer line is not the subject of the certificate that follows it.",
        "某张证书的 issuer 与紧随其后那张证书的 subject 不一致。",
    ),
    _F.CERT_FILE_KEY_MISMATCH: Runbook(
        "给定的私钥与服务器证书不匹配。",
        "openssl x509 -noout -pubkey -in cert.pem | openssl sha256\n"
        "openssl pkey -pubout -in key.pem | openssl sha256",
        "The two hashes differ.",
        "两个哈希值不同。",
    ),
    _F.CERT_EXPIRED: Runbook(
        "服务器证书的 notAfter（到期时间）已过。",
        f"{_LEAF} -enddate\ndate -u",
        "`notAfter=` is earlier than the current UTC time. With several addresses, check each ADDRESS.",
        "`notAfter=` 早于当前 UTC 时间。若域名解析到多个地址，请逐个检查每个 ADDRESS。",
    ),
    _F.CERT_EXPIRING_SOON: Runbook(
        "服务器证书将在配置的阈值内到期（默认 21 天）。",
        f"{_LEAF} -enddate -checkend $((21*86400))",
        "`Certificate will expire`, and a notAfter date within the threshold.",
        "输出 `Certificate will expire`，且 notAfter 在阈值之内。",
    ),
    _F.CHAIN_CERT_EXPIRED: Runbook(
        "服务器发送的中间证书已过期（或将先于服务器证书过期）。",
        f"{_s_client('-showcerts')} \\\n"
        "  | openssl crl2pkcs7 -nocrl -certfile /dev/stdin | openssl pkcs7 -print_certs -text -noout \\\n"
        "  | grep -E 'Subject:|Not After'",
        "An intermediate (not the first certificate) has a `Not After` date in the past, or before the leaf's "
        "(each `Not After` line belongs to the `Subject` line below it).",
        "某张中间证书（非第一张）的 `Not After` 已过，或早于服务器证书的到期时间。",
    ),
    _F.CERT_NOT_YET_VALID: Runbook(
        "服务器证书的 notBefore（生效时间）在未来。",
        f"{_LEAF} -startdate\ndate -u",
        "`notBefore=` is later than the current UTC time (check the clock too).",
        "`notBefore=` 晚于当前 UTC 时间（同时检查本机时钟）。",
    ),
    _F.CERT_HOSTNAME_MISMATCH: Runbook(
        "带 SNI 访问时服务器出示的证书不包含该主机名。",
        f"{_LEAF} -subject -ext subjectAltName\n"
        f"{_s_client('-verify_hostname HOST', quiet=False)} | grep 'Verify return'",
        "HOST is not among the DNS names (a wildcard covers one label only); `Verify return code: 62 "
        "(hostname mismatch)`.",
        "HOST 不在证书的 DNS 名称中（通配符只匹配一级）；输出 `Verify return code: 62 (hostname mismatch)`。",
    ),
    _F.CERT_UNTRUSTED: Runbook(
        "即使获取了中间证书，也无法构建到受信任根证书的路径（自签名、私有 CA 或未知根证书）。",
        f"{_s_client(quiet=False)} | grep 'Verify return'\ncurl -sSv -o /dev/null https://HOST:PORT/",
        "`Verify return code: 18 (self-signed certificate)`, `19 (self-signed certificate in certificate chain)` or "
        "`20 (unable to get local issuer certificate)` even with the full chain; curl: `SSL certificate problem`.",
        "即使发送了完整证书链，仍出现 `Verify return code: 18`、`19` 或 `20`；curl 提示 `SSL certificate problem`。",
    ),
    _F.CERT_LIFETIME_EXCEEDS_POLICY: Runbook(
        "证书有效期（notAfter - notBefore）超过了签发时 CA/浏览器论坛规定的上限（仅限公开受信任的证书链），"
        "或超过了为私有 CA 配置的上限。",
        f"{_LEAF} -startdate -enddate",
        "The span exceeds the cap at notBefore: 60 months (from 2012-07-01), 39 months (from 2015-04-01), "
        "825 days (from 2018-03-01), 398 (from 2020-09-01), 200 (from 2026-03-15), 100 (from 2027-03-15) "
        "or 47 (from 2029-03-15); for a private CA, `private_ca_max_lifetime_days`.",
        "有效期超过 notBefore 当时的上限：60 个月（2012-07-01 起）、39 个月（2015-04-01 起）、825 天（2018-03-01 起）、"
        "398 天（2020-09-01 起）、200 天（2026-03-15 起）、100 天（2027-03-15 起）或 47 天（2029-03-15 起）；"
        "私有 CA 则为 `private_ca_max_lifetime_days`。",
    ),
    _F.CERT_WEAK_CRYPTO: Runbook(
        "服务器证书或中间证书使用小于 2048 位的 RSA 密钥或小于 256 位的 EC 密钥。",
        f"{_s_client('-showcerts')} | openssl x509 -noout -text | grep -E 'Public-Key'",
        "`Public-Key: (1024 bit)` (or another RSA size under 2048), or an EC key under 256 bits.",
        "出现 `Public-Key: (1024 bit)`（或其他小于 2048 位的 RSA 密钥），或 EC 密钥小于 256 位。",
    ),
    _F.CERT_CRYPTO_REJECTED: Runbook(
        "服务器证书或中间证书使用 MD5/SHA-1 签名，或 RSA 密钥短于 1024 位。",
        f"{_s_client('-showcerts')} | openssl x509 -noout -text | grep -E 'Signature Algorithm|Public-Key'",
        "`sha1WithRSAEncryption`/`md5WithRSAEncryption`, or `Public-Key: (512 bit)` on a certificate of the chain.",
        "链中某张证书显示 `sha1WithRSAEncryption`/`md5WithRSAEncryption`，或 `Public-Key: (512 bit)`。",
    ),
    _F.MIXED_CONTENT_BLOCKABLE: Runbook(
        "HTTPS 页面通过 `http://` 加载脚本、样式表、框架、对象、字体或 fetch 目标，浏览器会直接拦截。",
        "curl -sS https://HOST/ | grep -oiE '<(script|link|iframe|frame|object|embed)[^>]*http://[^>]*>'",
        "`http://` URLs in script, stylesheet, frame or object references; the browser console shows "
        "`Mixed Content: ... blocked`.",
        "脚本、样式表、框架或对象引用中出现 `http://` URL；浏览器控制台显示 `Mixed Content: ... blocked`。",
    ),
    _F.MIXED_CONTENT_UPGRADABLE: Runbook(
        "HTTPS 页面通过 `http://` 加载图片、音频或视频，浏览器会警告、自动升级请求或显示“不安全”。",
        "curl -sS https://HOST/ | grep -oiE '<(img|audio|video|source)[^>]*http://[^>]*>'",
        "`http://` URLs in image, audio or video references; the browser console warns about mixed content.",
        "图片、音频或视频引用中出现 `http://` URL；浏览器控制台出现混合内容警告。",
    ),
    _F.SNI_DEFAULT_CERT_MISMATCH: Runbook(
        "不带 SNI 访问时，服务器出示的证书不包含该主机名（不支持 SNI 的客户端或绑定错误的站点会拿到错误的证书）。",
        "openssl s_client -connect ADDRESS:PORT -noservername </dev/null 2>/dev/null \\\n"
        "  | openssl x509 -noout -subject -ext subjectAltName",
        "Without SNI the certificate's names do not include HOST.",
        "不带 SNI 时证书中的名称不包含 HOST。",
    ),
    _F.CHAIN_INCOMPLETE: Runbook(
        "服务器发送的证书无法到达受信任根证书，但从 AIA caIssuers 地址获取缺失的签发者后可以构建路径：中间证书缺失。",
        f"{_SHOWCERTS}\n{_LEAF} -ext authorityInfoAccess",
        "Only certificate 0 (the leaf) is sent; its AIA `CA Issuers - URI` names the intermediate to install.",
        "只发送了第 0 张证书（服务器证书）；其 AIA 中的 `CA Issuers - URI` 就是需要安装的中间证书地址。",
    ),
    _F.CHAIN_WRONG_ORDER: Runbook(
        "服务器发送的证书链顺序错误。",
        _SHOWCERTS,
        "Some certificate's `i:` (issuer) is not the `s:` (subject) of the next one.",
        "某张证书的 `i:`（签发者）与下一张证书的 `s:`（主题）不一致。",
    ),
    _F.CHAIN_CONTAINS_ROOT: Runbook(
        "服务器还发送了自签名的根证书（无害，但浪费流量）。",
        _SHOWCERTS,
        "The last certificate has identical `s:` and `i:` lines: it is the self-signed root.",
        "最后一张证书的 `s:` 与 `i:` 相同：它就是自签名根证书。",
    ),
    _F.CHAIN_EXTRA_CERTS: Runbook(
        "服务器发送了不在“服务器证书到根证书”路径上的证书。",
        _SHOWCERTS,
        "A certificate whose subject is not the issuer of the one before it, or a duplicate.",
        "某张证书的主题并不是前一张证书的签发者，或有重复的证书。",
    ),
    _F.CERT_REVOKED: Runbook(
        "服务器证书的 OCSP 响应者报告该证书已被吊销。",
        f"{_s_client('-showcerts')} \\\n"
        "  | awk '/BEGIN CERT/{n++} n==1' > leaf.pem   # likewise n==2 > issuer.pem\n"
        "openssl ocsp -issuer issuer.pem -cert leaf.pem -url \"$(openssl x509 -noout -ocsp_uri -in leaf.pem)\"",
        "`leaf.pem: revoked`, with the revocation time and reason.",
        "输出 `leaf.pem: revoked`，并给出吊销时间和原因。",
    ),
    _F.TLS_LEGACY_PROTOCOL: Runbook(
        "服务器仍然接受 TLS 1.0 或 TLS 1.1。",
        f"{_s_client('-tls1_1 -cipher DEFAULT:@SECLEVEL=0', quiet=False)}\n"
        f"{_s_client('-tls1 -cipher DEFAULT:@SECLEVEL=0', quiet=False)}",
        "A completed handshake (`Protocol  : TLSv1.1` or `TLSv1`) instead of a handshake failure.",
        "握手成功（`Protocol  : TLSv1.1` 或 `TLSv1`），而不是握手失败。",
    ),
    _F.TLS_MODERN_PROTOCOL_UNSUPPORTED: Runbook(
        "服务器既不接受 TLS 1.2 也不接受 TLS 1.3。",
        f"{_s_client('-tls1_2', quiet=False)}\n{_s_client('-tls1_3', quiet=False)}",
        "Both handshakes fail (`no protocols available`, `alert protocol version` or no `Protocol` line).",
        "两次握手都失败（`no protocols available`、`alert protocol version`，或没有 `Protocol` 行）。",
    ),
    _F.TLS_INSECURE_CIPHER: Runbook(
        "服务器接受 NULL、匿名或出口级加密套件，或短于 1024 位的 DH 参数。",
        f"{_s_client('-tls1_2 -cipher aNULL:eNULL:EXPORT:@SECLEVEL=0', quiet=False)}",
        "A completed handshake with `Cipher is` naming a NULL, anon (ADH/AECDH) or EXP suite.",
        "握手成功，`Cipher is` 后面是 NULL、匿名（ADH/AECDH）或 EXP 套件。",
    ),
    _F.TLS_WEAK_CIPHER: Runbook(
        "服务器的 DH 参数短于 2048 位、不提供前向保密，或没有 AEAD 套件。",
        f"{_s_client('-tls1_2 -cipher kRSA:DHE:@SECLEVEL=0', quiet=False)}",
        "A completed handshake with a static-RSA (`AES256-SHA`) or DHE suite; `Server Temp Key: DH, 1024 bits`.",
        "握手成功，协商到静态 RSA（如 `AES256-SHA`）或 DHE 套件；`Server Temp Key: DH, 1024 bits`。",
    ),
    _F.TLS_CLIENT_CERT_REQUIRED: Runbook(
        "服务器在握手时要求客户端证书。",
        f"{_s_client('', quiet=False)} | grep -A3 'Acceptable client certificate CA names'",
        "A list of acceptable CA names, and the handshake or the first request fails without a client certificate.",
        "列出可接受的 CA 名称；不提供客户端证书时握手或第一个请求失败。",
    ),
    _F.HTTP_NOT_REDIRECTED: Runbook(
        "80 端口上的普通 HTTP 直接返回内容，而没有重定向到 HTTPS。",
        "curl -sSI http://HOST/ | grep -iE '^HTTP|^location'",
        "A 200 status line and no `Location: https://...` header.",
        "返回 200 状态，并且没有 `Location: https://...` 响应头。",
    ),
    _F.HSTS_MISSING: Runbook(
        "HTTPS 响应中没有 Strict-Transport-Security（HSTS）响应头。",
        "curl -sSI https://HOST/ | grep -i strict-transport-security",
        "No output: the header is absent.",
        "没有输出：响应中没有该头。",
    ),
    _F.MIXED_CONTENT_FORM: Runbook(
        "HTTPS 页面中的表单提交到 http: 地址。",
        "curl -s https://HOST/PATH | grep -ioE '<form[^>]*action=\"http:[^\"]*'",
        "A `<form ... action=\"http://...` line: the form posts in clear text.",
        "输出 `<form ... action=\"http://...` 行：表单以明文提交。",
    ),
    _F.HTTPS_REDIRECTS_TO_HTTP: Runbook(
        "HTTPS 地址重定向到了明文 http: 地址。",
        "curl -sSI https://HOST/PATH | grep -iE '^HTTP|^location'",
        "A 3xx status line with `Location: http://...`.",
        "返回 3xx 状态，并带有 `Location: http://...` 响应头。",
    ),
})
# fmt: on

if set(RUNBOOKS) != set(FaultId):
    raise RuntimeError("exporter.catalog.runbooks: every fault id needs a runbook entry")


def anchors() -> list[str]:
    """Every anchor docs/runbooks.md defines: fault ids, then the exporter-health entries."""
    return [str(f) for f in FAULTS] + [h.anchor for h in HEALTH]


def _entry(anchor: str, heading: str, meaning: tuple[str, str], confirm: str, look: tuple[str, str],
           fix: tuple[str, str]) -> list[str]:
    return [
        f'<a id="{anchor}"></a>', "", f"### {heading}", "",
        f"**Meaning.** {meaning[0]}", "", f"**含义。** {meaning[1]}", "",
        "**Confirm by hand / 手动确认**", "", "```sh", confirm, "```", "",
        f"**Look for.** {look[0]}", "", f"**判断。** {look[1]}", "",
        f"**Fix.** {fix[0]}", "", f"**修复。** {fix[1]}", "",
    ]


def render_markdown() -> str:
    out = [
        "<!-- Generated by `python -m exporter.docs runbooks > docs/runbooks.md`; do not edit by hand. -->",
        "",
        "# Runbooks / 故障处理手册",
        "",
        ("One entry per fault id and per exporter-health alert: what it means, how to confirm it by hand, "
         "how to fix it, in English and Chinese. Alerts link here through `runbook_url` "
         "(`docs/runbooks.md#<fault id>`)."),
        "",
        "每个故障 ID 和每个 exporter 健康告警各有一节：含义、如何手动确认、如何修复。告警的 `runbook_url` 指向这里。",
        "",
        ("Placeholders / 占位符: `HOST` the target's host name; `ADDRESS` one address it resolves to "
         "(the alert's `address` label, or `dig +short HOST`); `PORT` the HTTPS port (443); `DOMAIN` the "
         "registered domain; `NS` one of its authoritative name servers (`dig +short NS DOMAIN`); "
         "`EXPORTER` the exporter's host."),
        "",
    ]
    for section, heading in SECTIONS.items():
        faults = [f for f in FAULTS.values() if f.section == section]
        if not faults:
            continue
        out += [f"## {heading if section == 'extra' else f'{section} {heading}'}", ""]
        for f in faults:
            rb = RUNBOOKS[f.id]
            out += _entry(f.id, f"`{f.id}`: {f.title} ({f.severity})", (f.summary, rb.meaning_zh),
                          rb.confirm, (rb.look_en, rb.look_zh), (f.remedy_en, f.remedy_zh))
    out += ["## Exporter health / Exporter 健康", ""]
    for h in HEALTH:
        out += _entry(h.anchor, f"`{h.alert}`: {h.title}", (h.meaning_en, h.meaning_zh), h.confirm,
                      (h.look_en, h.look_zh), (h.fix_en, h.fix_zh))
    return "\n".join(out).rstrip("\n") + "\n"


if __name__ == "__main__":  # also: python -m exporter.docs runbooks
    print(render_markdown(), end="")
