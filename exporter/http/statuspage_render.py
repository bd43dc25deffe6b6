"""HTML for the status page: words in two languages, escaping, the expiry timeline (inline SVG).

Everything a probed server can influence (subjects, details, even target names) goes
through ``esc``; there is no template engine and no markup is built from unescaped text.
"""

from __future__ import annotations

import html
import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from exporter import __version__

STATUSES = ("critical", "warning", "info", "pending", "ok")  # worst first
SORTS = ("severity", "fault", "expiry", "name", "checked")
EXPIRY_CHOICES = ("expired", "7", "30", "90", "unknown")

WORDS: dict[str, dict[str, Any]] = {
    "en": {
        "title": "SSL fault status", "target": "Target", "status": "Status", "faults": "Faults",
        "expiry": "Expiry", "addresses": "Addresses", "checked": "Checked", "next": "next",
        "never": "never", "severity": "Severity", "fault": "Fault", "any": "any", "sort": "Sort",
        "apply": "Apply", "reset": "Reset", "search": "Search", "search_hint": "name, host or fault id",
        "expired": "expired", "within": "within {n} days", "unknown": "unknown",
        "sort_severity": "worst first", "sort_fault": "by fault", "sort_expiry": "soonest expiry",
        "sort_name": "name", "sort_checked": "least recently checked", "reverse": "reverse",
        "shown": "{shown} of {total} targets", "no_match": "No target matches the filter.",
        "no_targets": "No targets configured.", "timeline": "Upcoming expiries",
        "timeline_empty": "No certificate expiry known for these targets yet.", "today": "today",
        "in": "in {t}", "ago": "{t} ago", "expired_ago": "expired {t} ago", "expires_in": "expires in {t}",
        "fix": "Fix", "could_not": "could not judge", "no_faults": "no faults", "checks": "Checks", "check": "Check",
        "log": "Recent probes", "json": "Full detail (JSON)", "back": "All targets", "address": "Address",
        "reach": "Connect", "tls": "TLS", "cert": "Certificate", "chain": "Chain", "trusted": "trusted",
        "untrusted": "untrusted", "every": "every {t}", "time": "Time", "duration": "Duration",
        "errors": "Errors", "n_fault": "{n} fault", "n_faults": "{n} faults", "last_checked": "Last checked", "host": "Host", "next_check": "Next check",
        "not_found": "No such target", "none": "none", "more": "{n} more not shown",
        "log_note": "The most recent runs plus older failures (kept longer), newest first.",
        "chain_expiry": "chain expires", "leaf_expiry": "certificate expires", "message": "Message",
        "sev": {"critical": "critical", "warning": "warning", "info": "info", "ok": "ok", "pending": "pending"},
        "units": (" s", " min", " h", " d"),
    },
    "zh": {
        "title": "SSL 证书故障状态", "target": "目标", "status": "状态", "faults": "问题", "expiry": "到期",
        "addresses": "地址", "checked": "检查", "next": "下次", "never": "从未", "severity": "严重程度",
        "fault": "问题类型", "any": "全部", "sort": "排序", "apply": "应用", "reset": "重置", "search": "搜索",
        "search_hint": "名称、主机或问题编号", "expired": "已过期", "within": "{n} 天内", "unknown": "未知",
        "sort_severity": "最严重优先", "sort_fault": "按问题", "sort_expiry": "最早到期", "sort_name": "名称",
        "sort_checked": "最久未检查", "reverse": "倒序", "shown": "显示 {shown} / {total} 个目标",
        "no_match": "没有符合筛选条件的目标。", "no_targets": "未配置目标。", "timeline": "即将到期",
        "timeline_empty": "这些目标暂无证书到期信息。", "today": "今天", "in": "{t}后", "ago": "{t}前",
        "expired_ago": "已过期 {t}", "expires_in": "{t}后到期", "fix": "处理办法", "could_not": "无法判断",
        "no_faults": "未发现问题", "checks": "检查项", "check": "检查项", "log": "最近探测", "json": "完整详情（JSON）",
        "back": "全部目标", "address": "地址", "reach": "连接", "tls": "TLS", "cert": "证书", "chain": "证书链",
        "trusted": "受信任", "untrusted": "不受信任", "every": "每 {t}", "time": "时间", "duration": "耗时",
        "errors": "错误", "n_fault": "{n} 个问题", "n_faults": "{n} 个问题", "last_checked": "上次检查", "host": "主机", "next_check": "下次检查", "not_found": "没有该目标",
        "none": "无", "more": "另有 {n} 个未显示", "log_note": "最近几次探测以及保留更久的失败记录，最新的在前。",
        "chain_expiry": "证书链到期", "leaf_expiry": "证书到期", "message": "信息",
        "sev": {"critical": "严重", "warning": "警告", "info": "提示", "ok": "正常", "pending": "等待中"},
        "units": (" 秒", " 分钟", " 小时", " 天"),
    },
}


# Control characters a certificate or server may carry (ANSI escapes, NUL...): shown as \u001b, never raw.
# Newlines and tabs stay: HTML treats them as spaces, and the JSON blocks are laid out with them.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def esc(value: Any) -> str:
    text = _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", "" if value is None else str(value))
    return html.escape(text, quote=True)


def href(path: str, params: Mapping[str, Any] | None = None) -> str:
    """An escaped URL for an attribute; empty parameters are left out."""
    clean = {k: v for k, v in (params or {}).items() if v not in (None, "", (), [])}
    query = urlencode(clean, doseq=True)
    return esc(path + ("?" + query if query else ""))


def target_path(name: str) -> str:
    return "/targets/" + quote(name, safe="")


@dataclass(frozen=True)
class Query:
    """The overview's query string: language, filters and sort order."""

    lang: str = "en"
    lang_explicit: bool = False
    severities: tuple[str, ...] = ()
    fault: str = ""
    expiry: str = ""
    sort: str = "severity"
    reverse: bool = False
    text: str = ""

    def params(self, **changes: Any) -> dict[str, Any]:
        values = {"severity": list(self.severities), "fault": self.fault, "expiry": self.expiry,
                  "sort": "" if self.sort == "severity" else self.sort, "order": "desc" if self.reverse else "",
                  "q": self.text, "lang": self.lang if self.lang_explicit else ""}
        values.update(changes)
        return values


def span(seconds: float, lang: str) -> str:
    s, units = abs(seconds), WORDS[lang]["units"]
    for limit, div, unit in ((90, 1, 0), (90 * 60, 60, 1), (36 * 3600, 3600, 2)):
        if s < limit:
            return f"{round(s / div)}{units[unit]}"
    return f"{round(s / 86400)}{units[3]}"


def utc(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)) if ts is not None else ""


def moment(ts: float | None, now: float, lang: str) -> str:
    """A <time> saying "12 s ago" / "in 48 s"; the JS keeps it current."""
    w = WORDS[lang]
    if ts is None:
        return f"<span class=muted>{esc(w['never'])}</span>"
    text = (w["in"] if ts >= now else w["ago"]).format(t=span(ts - now, lang))
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
    return f'<time datetime="{iso}" data-ts="{ts:.0f}" title="{esc(utc(ts))}">{esc(text)}</time>'


def expiry_text(days: float | None, lang: str) -> str:
    w = WORDS[lang]
    if days is None:
        return "—"
    template: str = w["expired_ago"] if days < 0 else w["expires_in"]
    return template.format(t=span(days * 86400, lang))


def badge(status: str, lang: str) -> str:
    return f'<span class="badge sev-{esc(status)}">{esc(WORDS[lang]["sev"].get(status, status))}</span>'


def document(lang: str, title: str, body: str, lang_links: Mapping[str, str], home: str = "/") -> str:
    toggle = "".join(
        f'<a href="{lang_links[code]}" hreflang="{tag}" lang="{tag}"'
        f'{" aria-current=true class=current" if code == lang else ""}>{label}</a>'
        for code, tag, label in (("en", "en", "EN"), ("zh", "zh-CN", "中文"))
    )
    return (
        f'<!doctype html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title>"
        f'<link rel="stylesheet" href="/static/statuspage.css?v={esc(__version__)}">'
        f'<script src="/static/statuspage.js?v={esc(__version__)}" defer></script></head>\n<body>'
        f'<header class="top"><a class="brand" href="{home}">ssl-fault-exporter</a>'
        f'<span class="ver">{esc(__version__)}</span>'
        '<nav class="links"><a href="/metrics">/metrics</a><a href="/api/targets">/api/targets</a></nav>'
        f'<nav class="lang" aria-label="Language">{toggle}</nav></header>\n<main>{body}</main></body></html>\n'
    )


def fault_list(faults: Sequence[Mapping[str, Any]], lang: str, open_: bool = False) -> str:
    w = WORDS[lang]
    if not faults:
        return f'<p class="muted">{esc(w["no_faults"])}</p>'
    items = []
    for f in faults:
        at = f' <span class="at">@ {esc(f.get("address"))}</span>' if f.get("address") else ""
        remedy = (f.get("remedy") or {}).get(lang) or (f.get("remedy") or {}).get("en", "")
        data = (f'<pre class="data">{esc(json.dumps(f["data"], indent=2, ensure_ascii=False, default=str))}</pre>'
                if open_ and f.get("data") else "")
        items.append(
            f'<li class="fault sev-{esc(f.get("severity"))}"><details{" open" if open_ else ""}><summary>'
            f'{badge(str(f.get("severity")), lang)} <code class="fid">{esc(f.get("id"))}</code> '
            f'<span class="ftitle">{esc(f.get("title_zh") if lang == "zh" and f.get("title_zh") else f.get("title"))}'
            f'</span>{at}</summary>'
            f'<p class="detail">{esc(f.get("detail"))}</p>'
            f'<p class="remedy" lang="{"zh-CN" if lang == "zh" else "en"}"><b>{esc(w["fix"])}:</b> {esc(remedy)}</p>'
            f"{data}</details></li>"
        )
    return '<ul class="faults">' + "".join(items) + "</ul>"


def could_not_judge(checks: Mapping[str, Mapping[str, Any]], lang: str) -> str:
    bad = [(n, c) for n, c in checks.items() if c.get("status") != "ok"]
    if not bad:
        return ""
    parts = ", ".join(f'<span title="{esc(c.get("message"))}">{esc(n)} ({esc(c.get("error"))})</span>' for n, c in bad)
    return f'<p class="couldnot">{esc(WORDS[lang]["could_not"])}: {parts}</p>'


def address_summary(rows: Sequence[Mapping[str, Any]], faults: Sequence[Mapping[str, Any]],
                    now: float, lang: str) -> str:
    w = WORDS[lang]
    if not rows:
        return "—"
    items = []
    for row in rows:
        bits = []
        if row.get("reachability"):
            ok = row["reachability"] == "ok"
            bits.append(f'<span class="pill {"good" if ok else "bad"}">{esc(row["reachability"])}</span>')
        bits.append(esc(row.get("tls_version") or ""))
        not_after = row.get("leaf_not_after")
        if isinstance(not_after, (int, float)):
            bits.append(f'<span title="{esc(utc(not_after))}">{esc(expiry_text((not_after - now) / 86400, lang))}</span>')
        if row.get("trusted") is not None:
            trusted = bool(row["trusted"])
            bits.append(f'<span class="pill {"good" if trusted else "bad"}">{esc(w["trusted" if trusted else "untrusted"])}</span>')
        here = [f for f in faults if f.get("address") == row["address"]]
        pill = ""
        if here:
            worst = min((str(f.get("severity")) for f in here), key=lambda s: STATUSES.index(s) if s in STATUSES else 9)
            label = w["n_fault" if len(here) == 1 else "n_faults"].format(n=len(here))
            pill = f' <span class="pill sev-{esc(worst)}">{esc(label)}</span>'
        items.append(f'<li><code>{esc(row["address"])}</code>{pill}<br>'
                     f'<span class="addr-bits">{" · ".join(b for b in bits if b)}</span></li>')
    return '<ul class="addrs">' + "".join(items) + "</ul>"


def timeline_svg(items: Sequence[Mapping[str, Any]], now: float, lang: str, link: Mapping[str, str],
                 warn_days: float = 21.0, limit: int = 40) -> str:
    """Horizontal timeline: one row per target, a bar from today to its earliest certificate expiry.

    Drawn twice, wide and narrow; the stylesheet shows the one that fits the screen.
    """
    w = WORDS[lang]
    dated = sorted((i for i in items if i.get("not_after") is not None), key=lambda i: (i["not_after"], i["name"]))
    if not dated:
        return f'<p class="muted">{esc(w["timeline_empty"])}</p>'
    extra, dated = len(dated) - min(len(dated), limit), dated[:limit]
    days = [(i["not_after"] - now) / 86400 for i in dated]
    svgs = "".join(_timeline(dated, days, now, lang, link, warn_days, *layout)
                   for layout in (("wide", 980, 200, 28, 9), ("narrow", 380, 122, 14, 3)))
    more = f'<p class="muted">{esc(w["more"].format(n=extra))}</p>' if extra else ""
    return f'<div class="tl-wrap">{svgs}</div>{more}'


def _timeline(dated: Sequence[Mapping[str, Any]], days: Sequence[float], now: float, lang: str,
              link: Mapping[str, str], warn_days: float, cls: str, width: int, left: int, chars: int,
              max_ticks: int) -> str:
    w = WORDS[lang]
    lo = max(-90.0, min(0.0, *days))
    hi = min(400.0, max(warn_days * 1.5, *days))
    step = next((s for s in (1, 7, 14, 30, 60, 90, 180) if (hi - lo) / s <= max_ticks), 365)
    lo, hi = lo - (hi - lo) * 0.03, max(hi + (hi - lo) * 0.02, math.ceil(hi / step) * step)
    right, top, row_h = 62 if cls == "narrow" else 84, 44, 22
    height = top + row_h * len(dated) + 8

    def x(day: float) -> float:
        return left + (min(max(day, lo), hi) - lo) / (hi - lo) * (width - left - right)

    out = [f'<svg class="timeline {cls}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="{esc(w["timeline"])}">',
           f'<rect class="zone-expired" x="{x(lo):.1f}" y="{top - 6}" width="{x(0) - x(lo):.1f}" height="{height - top}"/>',
           f'<rect class="zone-soon" x="{x(0):.1f}" y="{top - 6}" width="{x(warn_days) - x(0):.1f}" height="{height - top}"/>']
    tick = math.ceil(lo / step) * step
    while tick <= hi:
        label = w["today"] if tick == 0 else (f"+{tick}" if tick > 0 else str(tick)) + w["units"][3]
        date = time.strftime("%m-%d", time.gmtime(now + tick * 86400))
        out.append(f'<line class="grid{" now" if tick == 0 else ""}" x1="{x(tick):.1f}" x2="{x(tick):.1f}" '
                   f'y1="{top - 8}" y2="{height}"/><text class="tick" x="{x(tick):.1f}" y="14">{esc(label)}</text>'
                   f'<text class="tick date" x="{x(tick):.1f}" y="30">{date}</text>')
        tick += step
    for n, (item, day) in enumerate(zip(dated, days, strict=True)):
        y = top + n * row_h + row_h / 2
        urgency = "expired" if day < 0 else "soon" if day <= item.get("warn_days", warn_days) else "fine"
        name = str(item["name"])
        short = name if len(name) <= chars else name[:chars - 1] + "…"
        tip = f'{name}: {w["leaf_expiry"] if not item.get("chain") else w["chain_expiry"]} {utc(item["not_after"])}'
        end = f'<circle cx="{x(day):.1f}" cy="{y:.1f}" r="5"/>' if lo <= day <= hi else (
            f'<path d="M{x(day) - 6:.1f} {y - 6:.1f} l10 6 l-10 6 z"/>')
        out.append(
            f'<a href="{link[name]}" class="row {urgency}"><title>{esc(tip)}</title>'
            f'<rect class="hit" x="0" y="{y - row_h / 2:.1f}" width="{width}" height="{row_h}"/>'
            f'<text class="name" x="{left - 10}" y="{y + 4:.1f}">{esc(short)}</text>'
            f'<line class="bar" x1="{x(0):.1f}" x2="{x(day):.1f}" y1="{y:.1f}" y2="{y:.1f}"/>{end}'
            f'<text class="days" x="{max(x(day), x(0)) + 9:.1f}" y="{y + 4:.1f}">'
            f'{round(day)}{esc(w["units"][3])}{" · " + esc(w["chain"].lower()) if item.get("chain") else ""}</text></a>'
        )
    out.append("</svg>")
    return "".join(out)


def json_block(value: Any) -> str:
    return f'<pre class="json">{esc(json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=False))}</pre>'
