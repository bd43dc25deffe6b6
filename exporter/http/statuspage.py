"""The status page: ``/`` (every target, filters, sort, expiry timeline) and ``/targets/{name}``.

Server-rendered HTML that works without JavaScript and without the internet: filters,
sorting and the language toggle are query parameters; ``static/statuspage.js`` only
auto-submits the filter form and keeps "12 s ago" current.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web

from exporter.daemon.daemon import Daemon
from exporter.http.keys import DAEMON
from exporter.http.statuspage_render import (
    EXPIRY_CHOICES,
    SORTS,
    STATUSES,
    WORDS,
    Query,
    address_summary,
    badge,
    could_not_judge,
    document,
    esc,
    expiry_text,
    fault_list,
    href,
    json_block,
    moment,
    span,
    target_path,
    timeline_svg,
    utc,
)
from exporter.views import target_detail, target_view

STATIC_DIR = Path(__file__).with_name("static")
_STATIC = {"statuspage.css": "text/css", "statuspage.js": "text/javascript"}
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Vary": "Accept-Language",
}


def register(app: web.Application) -> None:
    """Add the status page routes; expects ``app[DAEMON]`` (the daemon)."""
    app.router.add_get("/", overview)
    app.router.add_get("/targets/{name:.+}", target_page)
    app.router.add_get("/static/{file}", static_file)


def pick_language(request: web.Request) -> tuple[str, bool]:
    """?lang=zh|en wins; else the first of zh/en in Accept-Language by quality; else English."""
    asked = request.query.get("lang", "").lower()
    if asked in WORDS:
        return asked, True
    choices = []
    for n, part in enumerate(request.headers.get("Accept-Language", "").split(",")):
        tag, _, params = part.strip().lower().partition(";")
        try:
            quality = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            quality = 0.0
        primary = tag.split("-")[0]
        if primary in WORDS and quality > 0:
            choices.append((-quality, n, primary))
    return (min(choices)[2] if choices else "en"), False


def parse_query(request: web.Request) -> Query:
    q = request.query
    severities = tuple(s for s in STATUSES if s in {v for raw in q.getall("severity", []) for v in raw.split(",")})
    expiry = q.get("expiry", "")
    lang, explicit = pick_language(request)
    return Query(
        lang=lang, lang_explicit=explicit, severities=severities, fault=q.get("fault", "")[:100],
        expiry=expiry if expiry in EXPIRY_CHOICES or (expiry.isascii() and expiry.isdigit() and len(expiry) < 6) else "",
        sort=q.get("sort", "") if q.get("sort", "") in SORTS else "severity",
        reverse=q.get("order") == "desc", text=q.get("q", "").strip()[:200],
    )


def collect(daemon: Daemon) -> list[dict[str, Any]]:
    rows = []
    for state in daemon.store.states():
        row = target_view(state, daemon.scheduler.next_run_timestamp).as_json()
        # The timeline shows the earliest expiry on the served chains: an intermediate's when it runs out first.
        leaf, chain = row["not_after"], row["chain_not_after"]
        row["chain_earlier"] = chain is not None and (leaf is None or chain < leaf - 3600)
        row["timeline_not_after"] = chain if row["chain_earlier"] else leaf
        row["warn_days"] = row["expiry_warning_days"]
        rows.append(row)
    return rows


def matches(row: dict[str, Any], q: Query) -> bool:
    if q.severities and row["status"] not in q.severities:
        return False
    if q.fault and not any(f["id"] == q.fault for f in row["faults"]):
        return False
    days = row["days_to_expiry"]
    if q.expiry == "unknown" and days is not None:
        return False
    if q.expiry == "expired" and (days is None or days >= 0):
        return False
    if q.expiry.isdigit() and (days is None or days > int(q.expiry)):
        return False
    if q.text:
        needle = q.text.lower()
        haystack = [row["name"], row["host"], *(f["id"] for f in row["faults"])]
        if not any(needle in str(h).lower() for h in haystack):
            return False
    return True


def sort_rows(rows: list[dict[str, Any]], q: Query) -> list[dict[str, Any]]:
    def rank(row: dict[str, Any]) -> int:
        return STATUSES.index(row["status"]) if row["status"] in STATUSES else len(STATUSES)

    def expiry(row: dict[str, Any]) -> tuple[bool, float]:
        return row["days_to_expiry"] is None, row["days_to_expiry"] or 0.0

    keys = {
        "severity": lambda r: (rank(r), *expiry(r), r["name"]),
        "fault": lambda r: (not r["faults"], r["faults"][0]["id"] if r["faults"] else "", rank(r), r["name"]),
        "expiry": lambda r: (*expiry(r), rank(r), r["name"]),
        "name": lambda r: r["name"],
        "checked": lambda r: (r["last_run"] or 0.0, r["name"]),
    }
    ordered = sorted(rows, key=keys[q.sort])
    return ordered[::-1] if q.reverse else ordered


def _page(request: web.Request, q: Query, title: str, body: str, status: int = 200) -> web.Response:
    params = q.params() if request.path == "/" else {}
    links = {code: href(request.path, {**params, "lang": code}) for code in WORDS}
    text = document(q.lang, title, body, links, href("/", {"lang": q.lang} if q.lang_explicit else {}))
    headers = {**_HEADERS, "Content-Language": "zh-CN" if q.lang == "zh" else "en"}
    return web.Response(text=text, content_type="text/html", status=status, headers=headers)


async def overview(request: web.Request) -> web.Response:
    # Rendering a large fleet takes a while: off the event loop, so probes keep their timing.
    return await asyncio.to_thread(_overview, request)


def _overview(request: web.Request) -> web.Response:
    q, now = parse_query(request), time.time()
    w = WORDS[q.lang]
    everything = collect(request.app[DAEMON])
    shown = sort_rows([r for r in everything if matches(r, q)], q)
    lang_param = {"lang": q.lang} if q.lang_explicit else {}
    link = {r["name"]: href(target_path(r["name"]), lang_param) for r in everything}
    counts = Counter(r["status"] for r in everything)
    chips = "".join(
        f'<a class="chip sev-{s}{" on" if q.severities == (s,) else ""}" href="{href("/", q.params(severity=[s]))}">'
        f'{esc(w["sev"][s])} <b>{counts[s]}</b></a>' for s in STATUSES if counts[s]
    )
    body = [f'<h1>{esc(w["title"])}</h1><nav class="counts">{chips}</nav>', _filters(q, everything)]
    timeline = [{"name": r["name"], "not_after": r["timeline_not_after"], "chain": r["chain_earlier"],
                 "warn_days": r["warn_days"]} for r in shown]
    warn = Counter(r["warn_days"] for r in everything).most_common(1)
    body.append(f'<section class="card"><h2>{esc(w["timeline"])}</h2>'
                f'{timeline_svg(timeline, now, q.lang, link, warn[0][0] if warn else 21.0)}</section>')
    body.append(_table(shown, everything, q, now, link))
    return _page(request, q, w["title"], "\n".join(body))


def _filters(q: Query, rows: list[dict[str, Any]]) -> str:
    w = WORDS[q.lang]
    fault_counts = Counter(f for r in rows for f in sorted({x["id"] for x in r["faults"]}))
    if q.fault and q.fault not in fault_counts:
        fault_counts[q.fault] = 0
    options = "".join(f'<option value="{esc(f)}"{" selected" if f == q.fault else ""}>{esc(f)} ({n})</option>'
                      for f, n in sorted(fault_counts.items()))
    expiry_labels = {"expired": w["expired"], "unknown": w["unknown"]}
    exp_values = list(EXPIRY_CHOICES) + ([q.expiry] if q.expiry and q.expiry not in EXPIRY_CHOICES else [])
    exp_options = "".join(
        f'<option value="{esc(v)}"{" selected" if v == q.expiry else ""}>'
        f'{esc(expiry_labels.get(v) or w["within"].format(n=v))}</option>' for v in exp_values)
    sort_options = "".join(f'<option value="{s}"{" selected" if s == q.sort else ""}>{esc(w["sort_" + s])}</option>'
                           for s in SORTS)
    boxes = "".join(f'<label class="check sev-{s}"><input type="checkbox" name="severity" value="{s}"'
                    f'{" checked" if s in q.severities else ""}> {esc(w["sev"][s])}</label>' for s in STATUSES)
    hidden = f'<input type="hidden" name="lang" value="{esc(q.lang)}">' if q.lang_explicit else ""
    reset = href("/", {"lang": q.lang} if q.lang_explicit else {})
    return (
        f'<form class="filters card" method="get" action="/">{hidden}'
        f'<fieldset><legend>{esc(w["severity"])}</legend>{boxes}</fieldset>'
        f'<label>{esc(w["fault"])} <select name="fault"><option value="">{esc(w["any"])}</option>{options}</select></label>'
        f'<label>{esc(w["expiry"])} <select name="expiry"><option value="">{esc(w["any"])}</option>{exp_options}'
        f'</select></label><label>{esc(w["sort"])} <select name="sort">{sort_options}</select></label>'
        f'<label class="check"><input type="checkbox" name="order" value="desc"{" checked" if q.reverse else ""}> '
        f'{esc(w["reverse"])}</label>'
        f'<label class="grow">{esc(w["search"])} <input type="search" name="q" value="{esc(q.text)}" '
        f'placeholder="{esc(w["search_hint"])}"></label>'
        f'<span class="buttons"><button type="submit">{esc(w["apply"])}</button> <a href="{reset}">{esc(w["reset"])}</a>'
        "</span></form>"
    )


def _table(shown: list[dict[str, Any]], everything: list[dict[str, Any]], q: Query, now: float,
           link: dict[str, str]) -> str:
    w = WORDS[q.lang]
    if not everything:
        return f'<p class="empty">{esc(w["no_targets"])}</p>'

    def head(label: str, sort: str | None) -> str:
        if sort is None:
            return f"<th>{esc(label)}</th>"
        desc = q.sort == sort and not q.reverse
        mark = (" ▼" if q.reverse else " ▲") if q.sort == sort else ""
        return f'<th><a href="{href("/", q.params(sort=sort, order="desc" if desc else ""))}">{esc(label)}{mark}</a></th>'

    rows = []
    for r in shown:
        days = r["days_to_expiry"]
        exp_class = "expired" if days is not None and days < 0 else "soon" if days is not None and days <= r["warn_days"] else ""
        next_run = f'<br><span class="muted">{esc(w["next"])} {moment(r["next_run"], now, q.lang)}</span>' if r["next_run"] else ""
        port = f':{r["port"]}' if r.get("port") else ""
        rows.append(
            f'<tr class="target sev-{esc(r["status"])}" data-status="{esc(r["status"])}">'
            f'<td data-label="{esc(w["target"])}"><a class="tname" href="{link[r["name"]]}">{esc(r["name"])}</a>'
            f'<br><span class="muted host">{esc(r["host"]).replace(".", ".<wbr>")}{esc(port)}</span></td>'
            f'<td data-label="{esc(w["status"])}">{badge(r["status"], q.lang)}</td>'
            f'<td data-label="{esc(w["faults"])}" class="faults-cell">{fault_list(r["faults"], q.lang)}'
            f'{could_not_judge(r["checks"], q.lang)}</td>'
            f'<td data-label="{esc(w["expiry"])}" class="expiry {exp_class}">'
            f'<span title="{esc(utc(r["not_after"]))}">{esc(expiry_text(days, q.lang))}</span>{_chain_note(r, now, q.lang)}</td>'
            f'<td data-label="{esc(w["addresses"])}" class="addr-cell">{address_summary(r["per_address"], r["faults"], now, q.lang)}</td>'
            f'<td data-label="{esc(w["checked"])}" class="when">{moment(r["last_run"], now, q.lang)}{next_run}</td></tr>'
        )
    if not rows:
        rows.append(f'<tr><td colspan="6" class="empty">{esc(w["no_match"])}</td></tr>')
    return (
        f'<section class="card"><p class="shown muted">{esc(w["shown"].format(shown=len(shown), total=len(everything)))}'
        f'</p><table class="targets"><thead><tr>{head(w["target"], "name")}{head(w["status"], "severity")}'
        f'{head(w["faults"], "fault")}{head(w["expiry"], "expiry")}{head(w["addresses"], None)}'
        f'{head(w["checked"], "checked")}</tr></thead><tbody>{"".join(rows)}</tbody></table></section>'
    )


def _chain_note(row: dict[str, Any], now: float, lang: str) -> str:
    """The intermediate's expiry under the leaf's, when the chain runs out first."""
    if not row["chain_earlier"] or row["timeline_not_after"] is None:
        return ""
    days = (row["timeline_not_after"] - now) / 86400
    return (f'<br><span class="chainexp{" expired" if days < 0 else ""}" title="{esc(utc(row["timeline_not_after"]))}">'
            f'{esc(WORDS[lang]["chain"])}: {esc(expiry_text(days, lang))}</span>')


async def target_page(request: web.Request) -> web.Response:
    q, now = parse_query(request), time.time()
    w = WORDS[q.lang]
    daemon = request.app[DAEMON]
    name = request.match_info["name"]
    back = href("/", {"lang": q.lang} if q.lang_explicit else {})
    detail = target_detail(daemon.store, name, daemon.scheduler.next_run_timestamp)
    if detail is None:
        missing = f'<p><a href="{back}">← {esc(w["back"])}</a></p><h1>{esc(w["not_found"])}</h1><p><code>{esc(name)}</code></p>'
        return _page(request, q, w["not_found"], missing, status=404)
    port = f':{detail["port"]}' if detail.get("port") else ""
    body = [
        f'<p><a href="{back}">← {esc(w["back"])}</a></p>',
        f'<h1 class="tname">{esc(detail["name"])} {badge(detail["status"], q.lang)}</h1>',
        f'<dl class="facts card"><dt>{esc(w["host"])}</dt><dd><code>{esc(detail["host"])}{esc(port)}</code></dd>'
        f'<dt>{esc(w["expiry"])}</dt><dd title="{esc(utc(detail["not_after"]))}">'
        f'{esc(expiry_text(detail["days_to_expiry"], q.lang))} <span class="muted">{esc(utc(detail["not_after"]))}</span></dd>'
        f'<dt>{esc(w["last_checked"])}</dt><dd>{moment(detail["last_run"], now, q.lang)}'
        f' <span class="muted">{esc(utc(detail["last_run"]))}</span></dd>'
        f'<dt>{esc(w["next_check"])}</dt><dd>{moment(detail["next_run"], now, q.lang)} <span class="muted">'
        f'({esc(w["every"].format(t=span(detail["interval_seconds"] or 0, q.lang)))})</span></dd></dl>',
        f'<section class="card"><h2>{esc(w["faults"])}</h2>{fault_list(detail["faults"], q.lang, open_=True)}'
        f'{could_not_judge(detail["checks"], q.lang)}</section>',
        _address_table(detail["per_address"], detail["faults"], now, q.lang),
        _checks_table(detail["results"], q.lang),
        _log_table(detail["log"], now, q.lang),
        f'<section class="card"><h2>{esc(w["json"])} <a class="small" href="{href("/api" + target_path(name))}">'
        f'{esc("/api" + target_path(name))}</a></h2>{json_block(detail)}</section>',
    ]
    return _page(request, q, f'{detail["name"]} · {w["title"]}', "\n".join(body))


def _address_table(rows: list[dict[str, Any]], faults: list[dict[str, Any]], now: float, lang: str) -> str:
    w = WORDS[lang]
    out = []
    for row in rows:
        timing = " / ".join(f"{row[k] * 1000:.1f} ms" for k in ("connect_seconds", "handshake_seconds")
                            if isinstance(row.get(k), (int, float)))
        not_after = row.get("leaf_not_after")
        expiry = expiry_text((not_after - now) / 86400, lang) if isinstance(not_after, (int, float)) else "—"
        gone = " expired" if isinstance(not_after, (int, float)) and not_after < now else ""
        here = "".join(f' <span class="pill sev-{esc(f["severity"])}">{esc(f["id"])}</span>'
                       for f in faults if f.get("address") == row["address"])
        trusted = "" if row.get("trusted") is None else w["trusted"] if row["trusted"] else w["untrusted"]
        path = "<br>".join(esc(p) for p in row.get("chain_path") or [])
        out.append(
            f'<tr><td data-label="{esc(w["address"])}"><code>{esc(row["address"])}</code>{here}</td>'
            f'<td data-label="{esc(w["reach"])}">{esc(row.get("reachability") or "—")} <span class="muted nw">{esc(timing)}</span></td>'
            f'<td data-label="{esc(w["tls"])}">{esc(row.get("tls_version") or "—")} <span class="muted">{esc(row.get("cipher") or "")}</span></td>'
            f'<td data-label="{esc(w["cert"])}">{esc(row.get("leaf_subject") or "—")}<br><span class="muted">'
            f'{esc(", ".join(row.get("leaf_names") or []))} {esc(row.get("leaf_key_type") or "")}</span><br>'
            f'<span class="exp{gone}" title="{esc(utc(not_after))}">{esc(expiry)}</span></td>'
            f'<td data-label="{esc(w["chain"])}">{esc(trusted)}<br><span class="muted">{path}</span></td></tr>'
        )
    if not out:
        return f'<section class="card"><h2>{esc(w["addresses"])}</h2><p class="muted">{esc(w["none"])}</p></section>'
    return (f'<section class="card"><h2>{esc(w["addresses"])}</h2><table class="stack"><thead><tr><th>{esc(w["address"])}'
            f'</th><th>{esc(w["reach"])}</th><th>{esc(w["tls"])}</th><th>{esc(w["cert"])}</th><th>{esc(w["chain"])}</th>'
            f'</tr></thead><tbody>{"".join(out)}</tbody></table></section>')


def _checks_table(results: dict[str, dict[str, Any]], lang: str) -> str:
    w = WORDS[lang]
    rows = "".join(
        f'<tr class="{"bad" if r.get("status") != "ok" else ""}"><td data-label="{esc(w["check"])}"><code>{esc(n)}</code></td>'
        f'<td data-label="{esc(w["status"])}">{esc(r.get("status"))} {esc(r.get("error_kind") or "")}</td>'
        f'<td data-label="{esc(w["duration"])}">{(r.get("duration_seconds") or 0) * 1000:.1f} ms</td>'
        f'<td data-label="{esc(w["message"])}">{esc(r.get("error") or "")}</td></tr>'
        for n, r in results.items())
    return (f'<section class="card"><h2>{esc(w["checks"])}</h2><table class="stack"><thead><tr><th>{esc(w["check"])}</th>'
            f'<th>{esc(w["status"])}</th><th>{esc(w["duration"])}</th><th>{esc(w["message"])}</th></tr></thead>'
            f'<tbody>{rows}</tbody></table></section>')


def _log_table(entries: list[dict[str, Any]], now: float, lang: str) -> str:
    w = WORDS[lang]
    rows = "".join(
        f'<tr class="{"bad" if e["faults"] or e["errors"] else "good"}"><td data-label="{esc(w["time"])}">'
        f'{esc(utc(e["timestamp"]))}<br>{moment(e["timestamp"], now, lang)}</td>'
        f'<td data-label="{esc(w["duration"])}">{e["duration_seconds"] * 1000:.1f} ms</td>'
        f'<td data-label="{esc(w["faults"])}">{"<br>".join(f"<code>{esc(f)}</code>" for f in e["faults"]) or "—"}</td>'
        f'<td data-label="{esc(w["errors"])}">{"<br>".join(esc(x) for x in e["errors"]) or "—"}</td></tr>'
        for e in entries)
    if not rows:
        rows = f'<tr><td colspan="4" class="muted">{esc(w["none"])}</td></tr>'
    return (f'<section class="card"><h2>{esc(w["log"])}</h2><p class="muted">{esc(w["log_note"])}</p>'
            f'<table class="stack log"><thead><tr><th>{esc(w["time"])}</th><th>{esc(w["duration"])}</th>'
            f'<th>{esc(w["faults"])}</th><th>{esc(w["errors"])}</th></tr></thead><tbody>{rows}</tbody></table></section>')


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["file"]
    if name not in _STATIC or not (STATIC_DIR / name).is_file():
        raise web.HTTPNotFound()
    return web.Response(body=(STATIC_DIR / name).read_bytes(), content_type=_STATIC[name], charset="utf-8",
                        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})
