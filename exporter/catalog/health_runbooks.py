"""Runbooks of the exporter's own alerts (docs/runbooks.md, "Exporter health"), English and Chinese.

Each entry's anchor is what deploy/alerting.yaml's runbook links point at for that alert
(tools/alerting/health.py); exporter.catalog.runbooks renders them after the fault entries.
EXPORTER is the exporter's host in the commands.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HEALTH", "HealthRunbook"]


@dataclass(frozen=True)
class HealthRunbook:
    anchor: str
    alert: str
    title: str
    meaning_en: str
    meaning_zh: str
    confirm: str
    look_en: str
    look_zh: str
    fix_en: str
    fix_zh: str


_DISCOVERY = "curl -sS http://EXPORTER:17753/api/discovery"

# fmt: off
HEALTH: tuple[HealthRunbook, ...] = (
    HealthRunbook(
        "exporter-down", "SSLFaultExporterDown", "Exporter down",
        "Prometheus cannot scrape ssl-fault-exporter: no certificate fault can alert from it until it is back. "
        "It pages when no other replica of the same job and shard is up (sharded, each shard watches its own part "
        "of the fleet), and only warns while another replica of the shard covers it.",
        "Prometheus 无法抓取 ssl-fault-exporter：在它恢复之前，它负责的证书故障都不会告警。"
        "当同一 job、同一分片（shard）没有其他副本在运行时发送寻呼（分片部署时每个分片只监控集群的一部分）；"
        "若该分片还有其他副本在运行，则只发送警告。",
        "curl -sS http://EXPORTER:17753/-/healthy\nsystemctl status sslfault; journalctl -u sslfault -n 50\n"
        "kubectl -n monitoring get pods -l app.kubernetes.io/name=ssl-fault-exporter",
        "A connection error, a stopped unit or a crash-looping pod; the log says why.",
        "连接失败、服务已停止或 Pod 反复重启；日志会说明原因。",
        "Start the service again and fix what its log reports (often a config error: run "
        "`sslfault check-config FILE`). Check that Prometheus' scrape config still points at the right address.",
        "重新启动服务，并修复日志中报告的问题（常见原因是配置错误，可运行 `sslfault check-config FILE` 检查）。"
        "同时确认 Prometheus 的抓取配置仍指向正确的地址。",
    ),
    HealthRunbook(
        "check-erroring", "SSLFaultExporterCheckErroring", "A check cannot reach a verdict",
        "A check has errored (timeout, network, internal) for 30 minutes on a target whose name resolves and "
        "whose port answers: its faults are unknown, not absent.",
        "某项检查已连续 30 分钟出错（超时、网络或内部错误），而该目标的域名可以解析、端口也能连通："
        "这意味着其故障状态未知，而不是没有故障。",
        "sslfault diagnose HOST --json | jq '.checks'\n"
        "# or open http://EXPORTER:17753/ and read the 'Could not judge' column",
        "The check's status is `error` with an error kind (`timeout`, `network`, `internal`...).",
        "该检查的状态为 `error`，并附有错误类型（`timeout`、`network`、`internal` 等）。",
        "For timeouts raise the target's `timeout` or fix the slow dependency (name servers, AIA or OCSP "
        "servers); for `internal` errors file a bug with the diagnose output.",
        "如果是超时，可调大该目标的 `timeout`，或修复响应缓慢的依赖（名称服务器、AIA 或 OCSP 服务器）；"
        "如果是 `internal` 错误，请附上 diagnose 的输出提交缺陷报告。",
    ),
    HealthRunbook(
        "results-stale", "SSLFaultExporterResultsStale", "Results are stale",
        "A target has not run for longer than both `exporter.stale_after` (default 30 minutes) and "
        "`exporter.stale_intervals` (default 3) times its own interval (`sslfault_target_interval_seconds`; a "
        "watched file re-read hourly is stale after 3 hours), so alerts about it reflect old data.",
        "某个目标距上次运行的时间已同时超过 `exporter.stale_after`（默认 30 分钟）和其自身间隔"
        "（`sslfault_target_interval_seconds`）的 `exporter.stale_intervals` 倍（默认 3 倍；每小时重读一次的证书文件"
        "在 3 小时后才算过时），因此该目标的告警基于过时的数据。",
        "curl -sS http://EXPORTER:17753/metrics | grep -E 'sslfault_(last_run_timestamp|target_interval)_seconds'\n"
        "journalctl -u sslfault -n 100",
        "Timestamps far behind the current time compared with the target's interval; log lines about skipped "
        "runs or an overloaded scheduler.",
        "时间戳相对该目标的间隔远远落后于当前时间；日志中有跳过运行或调度器过载的记录。",
        "Restart the exporter if the scheduler is stuck; raise `limits.max_concurrent_probes` if many targets "
        "wait for a slot.",
        "如果调度器卡住，请重启 exporter；如果大量目标在排队等待，请调大 `limits.max_concurrent_probes`。",
    ),
    HealthRunbook(
        "config-reload-failed", "SSLFaultExporterConfigReloadFailed", "Configuration reload failed",
        "The last reload (SIGHUP or POST /-/reload) failed; the exporter keeps running the previous configuration.",
        "最近一次重新加载配置（SIGHUP 或 POST /-/reload）失败；exporter 仍在使用之前的配置运行。",
        "sslfault check-config /etc/sslfault/config.yaml\ncurl -sS -X POST http://EXPORTER:17753/-/reload",
        "check-config lists every error with its line and key path.",
        "check-config 会列出每个错误及其所在行和键路径。",
        "Fix each listed error and reload again; the alert resolves on the next successful reload.",
        "逐一修复列出的错误后再次重新加载；下一次加载成功后告警自动恢复。",
    ),
    HealthRunbook(
        "discovery-failing", "SSLFaultExporterDiscoveryFailing", "Target discovery fails",
        "A file_sd file or http_sd URL cannot be read or parsed (`sslfault_discovery_sources_failing > 0`). The "
        "targets of its last good read stay watched, but targets added or removed there since are not seen.",
        "某个 file_sd 文件或 http_sd 地址无法读取或解析（`sslfault_discovery_sources_failing > 0`）。"
        "上次成功读取到的目标仍在监控，但此后在该来源中新增或删除的目标不会被发现。",
        f"{_DISCOVERY} | jq '.sources[] | select(.error)'\n"
        "sslfault check-config /etc/sslfault/config.yaml   # also validates the files the globs match",
        "A source with an `error`: the file and line of a bad entry, a read error, or the URL's HTTP status or "
        "timeout.",
        "带有 `error` 的来源：出错条目所在的文件和行、读取错误，或该地址的 HTTP 状态码或超时。",
        "Fix the entry the error names (an unknown `__param_` label, an invalid value), restore the file's "
        "permissions or mount, or repair the HTTP SD endpoint; the alert resolves after the next good read.",
        "修复错误中指出的条目（未知的 `__param_` 标签、无效的值），恢复文件的权限或挂载，或修复 HTTP SD 服务；"
        "下一次读取成功后告警自动恢复。",
    ),
    HealthRunbook(
        "shards-disagree", "SSLFaultExporterShardsDisagree", "Shards do not add up to the fleet",
        "The targets the shards own (`sslfault_shard_targets`, each shard counted once) do not add up to the fleet "
        "the replicas see (`sslfault_fleet_targets`): some targets are watched by no shard, or by two.",
        "各分片负责的目标数（`sslfault_shard_targets`，每个分片只计一次）之和与副本看到的整个集群的目标数"
        "（`sslfault_fleet_targets`）不一致：有些目标没有任何分片监控，或被两个分片重复监控。",
        f"{_DISCOVERY} | jq '{{shard, fleet_targets, shard_targets}}'   # on every replica\n"
        "# PromQL: sslfault_shard_info, sslfault_shard_targets, sslfault_fleet_targets",
        "Replicas with different `count`, two replicas claiming one `index` with different shares, a missing "
        "index, or different `fleet_targets` (one still reads an old ConfigMap or cannot reach a source).",
        "各副本的 `count` 不同、同一 `index` 的两个副本负责的目标数不同、缺少某个 index，"
        "或 `fleet_targets` 不同（某个副本仍在读取旧的 ConfigMap，或无法访问某个发现来源）。",
        "Give every replica `--shard.count` equal to the number of shards (change it with `replicas`), start the "
        "missing shard, and make every replica read the same configuration and discovery sources.",
        "让每个副本的 `--shard.count` 都等于分片数（与 `replicas` 一起修改），启动缺失的分片，"
        "并确保所有副本读取相同的配置和发现来源。",
    ),
    HealthRunbook(
        "state-save-failing", "SSLFaultExporterStateSaveFailing", "The state file cannot be saved",
        "Saving `--storage.state-file` keeps failing (`sslfault_state_file_save_failures_total` rises). After a "
        "restart this replica would serve old results or none, and its alerts would resolve and fire again.",
        "保存 `--storage.state-file` 持续失败（`sslfault_state_file_save_failures_total` 不断增加）。"
        "重启后该副本将提供过时的结果或没有结果，其告警会先恢复再重新触发。",
        "journalctl -u sslfault | grep 'cannot write the state file' | tail -3\n"
        "df -h /var/lib/sslfault; ls -ld /var/lib/sslfault /var/lib/sslfault/state.json",
        "The log's `error` field: `No space left on device`, `Permission denied` or `Read-only file system`.",
        "日志中的 `error` 字段：`No space left on device`、`Permission denied` 或 `Read-only file system`。",
        "Free space or grow the volume, make the directory writable by the exporter's user (fsGroup, "
        "StateDirectory=), or fix the mount; the next save (every minute) succeeds without a restart.",
        "释放空间或扩容卷，确保 exporter 的用户对该目录有写权限（fsGroup、StateDirectory=），或修复挂载；"
        "下一次保存（每分钟一次）会自动成功，无需重启。",
    ),
    HealthRunbook(
        "watches-nothing", "SSLFaultExporterWatchesNothing", "The exporter watches nothing",
        "An exporter replica is up but exports no target (no `sslfault_faults_active`): its configuration lists "
        "none, discovery finds none (`sslfault_fleet_targets` is 0), no `cert_files` glob matches, or its shard "
        "owns none of the fleet. Nothing it should watch can alert.",
        "某个 exporter 副本在运行，但没有导出任何目标（没有 `sslfault_faults_active`）：配置中没有目标、"
        "发现机制没有找到目标（`sslfault_fleet_targets` 为 0）、`cert_files` 的通配符没有匹配到文件，"
        "或其分片没有分到任何目标。它本应监控的对象都无法告警。",
        f"curl -sS http://EXPORTER:17753/api/targets | jq '.targets | length'\n{_DISCOVERY} | jq '{{fleet_targets, sources}}'\n"
        "sslfault check-config /etc/sslfault/config.yaml",
        "0 targets; empty or failing discovery sources; a config file that is not the one you edited.",
        "目标数为 0；发现来源为空或读取失败；加载的配置文件并不是你修改的那个。",
        "Point `--config.file` at the right file and list targets, fix the discovery sources or the `cert_files` "
        "globs, or lower `--shard.count` when a fleet is too small to give every shard a target.",
        "让 `--config.file` 指向正确的文件并配置目标，修复发现来源或 `cert_files` 通配符；"
        "若集群太小、无法为每个分片分配目标，请调小 `--shard.count`。",
    ),
)
# fmt: on
