#!/usr/bin/env python3
"""Helper of bench/peers.sh: parses the native tools' output and brokerbench's ceilings.json,
keeps one JSON line per measurement in samples.jsonl, and writes peers.json and peers.md.

  peers.py record SAMPLES --path P --repeat R --side native|brokerbench --tool T INPUTS... [--set K=V ...]
      prints the figure (msg/s) it recorded, or exits 1 when the input holds none
  peers.py message-bytes CEILINGS_JSON      the envelope size brokerbench puts on the wire
  peers.py ghz-data [MIN_BYTES]             ghz -d template of one EnvelopeBatch; stderr: its bytes
  peers.py exec-listening FLAG PORTFILE CMD...
                                            binds a loopback socket, writes its port to PORTFILE,
                                            and runs CMD with FLAG=<descriptor> on that socket
  peers.py summarize OUTDIR                 samples.jsonl + meta.tsv -> peers.json, peers.md; prints the table
"""
import argparse
import json
import os
import re
import socket
import statistics
import sys
from pathlib import Path

TARGET = 0.8  # brokerbench / native, ratio of medians, at or above this is fine


def num(text):
    return float(text.replace(",", ""))


def nats_rate(path, kind):
    """natscli `bench js pub|consume` stats line: `... stats: 12,345 msgs/sec ~ ...`."""
    m = re.search(rf"{kind}.*? stats: ([\d,.]+) msgs/sec", Path(path).read_text())
    return num(m.group(1)) if m else None


def record(a):
    fig = {}
    if a.tool == "natscli":
        pub, sub = nats_rate(a.nats_pub, "publisher"), nats_rate(a.nats_sub, "consumer")
        fig = {"publish_per_s": pub, "consume_per_s": sub}
        # publish+consume ran concurrently: the pair moves no faster than its slower side
        rate = min(pub, sub) if pub is not None and sub is not None else None
    elif a.tool == "perftest":
        text = Path(a.perftest).read_text()
        s = re.search(r"sending rate avg: ([\d,.]+) msg/s", text)
        r = re.search(r"receiving rate avg: ([\d,.]+) msg/s", text)
        fig = {"publish_per_s": s and num(s.group(1)), "consume_per_s": r and num(r.group(1))}
        rate = min(fig.values()) if None not in fig.values() else None
    elif a.tool == "producer-perf":
        # Kafka's ProducerPerformance: `N records sent, X records/sec (...), A ms avg latency, ...`
        # over the whole run, then `N steady state records sent, ...` without the --warmup-records
        text = Path(a.producer_perf).read_text()

        def summary(kind):  # the last such line: the progress lines every 5 s look the same
            hits = re.findall(rf"^(\d+) {kind}records sent, ([\d.]+) records/sec .*?, ([\d.]+) ms avg latency",
                              text, re.M)
            return hits[-1] if hits else None
        total, steady = summary(""), summary("steady state ")
        fig = {"publish_per_s": steady and num(steady[1]),
               "publish_per_s_with_warmup": total and num(total[1]),
               "latency_avg_ms": steady and num(steady[2]),
               "latency_avg_ms_with_warmup": total and num(total[2]),
               "records_sent": total and int(total[0]),
               "run_seconds": total and num(total[1]) and round(int(total[0]) / num(total[1]), 1)}
        # with no warm-up there is no steady-state line: the whole run is the figure
        rate = fig["publish_per_s"] if steady else fig["publish_per_s_with_warmup"]
    elif a.tool == "ghz":
        rep = json.loads(Path(a.ghz).read_text())
        ok = rep.get("statusCodeDistribution", {}).get("OK", 0)
        secs = rep.get("total", 0) / 1e9
        # ghz stops at -z with calls in flight; they end as Unavailable and are not counted
        fig = {"calls_ok": ok, "calls": rep.get("count"), "status": rep.get("statusCodeDistribution"),
               "latency_avg_ms": rep.get("average", 0) / 1e6}
        rate = ok / secs if ok and secs else None
    elif a.tool == "brokerbench":
        doc = json.loads(Path(a.ceilings).read_text())
        hit = [c for c in doc.get("ceilings", []) if c.get("stage") == "middleware"
               and c.get("middleware") == a.path]
        rate = hit[0].get("rate_per_s") if hit else None
        if hit:
            fig = {"seconds": hit[0].get("seconds"), "settings": hit[0].get("settings"),
                   "message_bytes": doc.get("message_bytes")}
    else:
        sys.exit(f"unknown tool {a.tool}")
    for kv in a.set or []:
        k, _, v = kv.partition("=")
        fig[k] = int(v) if v.isdigit() else v
    line = {"path": a.path, "repeat": a.repeat, "side": a.side, "tool": a.tool, "rate_per_s": rate, **fig}
    with open(a.samples, "a") as f:
        f.write(json.dumps(line) + "\n")
    if rate is None:
        sys.exit(1)
    print(f"{rate:.0f}")


def varint_len(n):
    return max(1, (n.bit_length() + 6) // 7)


def field_len(payload_len):  # tag + length prefix + payload of a length-delimited field < 2^28
    return 1 + varint_len(payload_len) + payload_len


def ghz_data(min_bytes):
    """One realistic Envelope in an EnvelopeBatch, as ghz call data (Go template per call)."""
    case = {"name": "María López", "location": "Quetzaltenango", "age": 42,
            "infectedtype": "communitary", "state": "symptomatic"}
    now_ns = 1_732_363_200_123_456_789  # 19 digits like {{.TimestampUnixNano}}: same varint size

    def size():
        c = sum(field_len(len(case[k].encode())) for k in ("name", "location", "infectedtype", "state"))
        c += 1 + varint_len(case["age"])
        return field_len(36) + field_len(c) + 2 * (1 + varint_len(now_ns))

    if min_bytes and size() < min_bytes:  # pad the name up to brokerbench's message size
        name, pad = case["name"], min_bytes - size() - 1
        while pad > 0:  # length prefixes grow past 127 bytes: the longest pad that fits
            case["name"] = f"{name} {'x' * pad}"
            if size() <= min_bytes:
                break
            pad -= 1
        else:
            case["name"] = name
    env = {"id": "{{newUUID}}", "case": case, "acceptedAtNs": "{{.TimestampUnixNano}}",
           "intendedAtNs": "{{.TimestampUnixNano}}"}
    print(json.dumps({"envelopes": [env]}, ensure_ascii=False))
    print(size(), file=sys.stderr)


def spread(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals),
            "values": vals}


def fmt(s):
    if not s:
        return "n/a"
    if s["n"] == 1:
        return f"{s['median']:,.0f}"
    return f"{s['median']:,.0f} ({s['min']:,.0f}–{s['max']:,.0f})"


def summarize(outdir):
    out = Path(outdir)
    samples = [json.loads(l) for l in (out / "samples.jsonl").read_text().splitlines() if l.strip()] \
        if (out / "samples.jsonl").exists() else []
    meta = {}
    for line in (out / "meta.tsv").read_text().splitlines():
        k, _, v = line.partition("\t")
        meta[k] = int(v) if re.fullmatch(r"-?\d+", v) else float(v) if re.fullmatch(r"-?\d+\.\d*", v) else v
    tools = {k[len("version."):]: v for k, v in meta.items() if k.startswith("version.")}
    installs = {k[len("install_s."):]: v for k, v in meta.items() if k.startswith("install_s.")}
    paths = [p for p in str(meta.get("paths", "")).split(",") if p]
    rows = []
    for p in paths:
        nat = [s for s in samples if s["path"] == p and s["side"] == "native"]
        bb = [s for s in samples if s["path"] == p and s["side"] == "brokerbench"]
        n, b = spread([s["rate_per_s"] for s in nat]), spread([s["rate_per_s"] for s in bb])
        ratio = b["median"] / n["median"] if n and b and n["median"] else None
        rows.append({"path": p, "native_tool": nat[0]["tool"] if nat else None,
                     "message_bytes": meta.get(f"message_bytes.{p}"),
                     "message_bytes_source": meta.get(f"message_bytes_source.{p}"),
                     "measures": meta.get(f"measures.{p}"), "native_settings": meta.get(f"settings.{p}"),
                     "native_per_s": n, "brokerbench_per_s": b, "ratio": ratio,
                     "meets_target": None if ratio is None else ratio >= TARGET})
    doc = {"started_utc": meta.get("started_utc"), "seconds": meta.get("seconds"), "repeat": meta.get("repeat"),
           "target_ratio": TARGET, "host": {"cpus": meta.get("cpus"), "kernel": meta.get("kernel")},
           "tools": tools, "install_seconds": installs, "brokerbench_ceilings": meta.get("bb_ceilings"),
           "notes": [v for k, v in sorted(meta.items()) if k.startswith("note.")],
           "paths": rows, "samples": samples}
    (out / "peers.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    md = [f"# brokerbench vs native tools — {meta.get('started_utc')}", "",
          f"{meta.get('seconds')} s per run, {meta.get('repeat')} repeat(s); msg/s as median (min–max); "
          f"ratio = brokerbench median / native median, target ≥ {TARGET}.", "",
          "| path | native tool | bytes | measures | native msg/s | brokerbench msg/s | ratio | ≥ target |",
          "| --- | --- | ---: | --- | ---: | ---: | ---: | --- |"]
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "n/a"
        ok = {True: "yes", False: "**no**", None: "–"}[r["meets_target"]]
        md.append(f"| {r['path']} | {r['native_tool']} | {r['message_bytes']} | {r['measures']} | "
                  f"{fmt(r['native_per_s'])} | {fmt(r['brokerbench_per_s'])} | {ratio} | {ok} |")
    md += [""] + [f"- {n}" for n in doc["notes"]]
    md += ["", "Tools: " + ", ".join(f"{k} {v}" for k, v in sorted(tools.items()))]
    (out / "peers.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


def exec_listening(flag, portfile, command):
    """Replaces this process with `command FLAG=<fd>`, serving on a socket bound here and never
    released, so the port written to `portfile` cannot be taken by anyone else meanwhile."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(128)
    s.set_inheritable(True)
    Path(portfile).write_text(str(s.getsockname()[1]))
    os.execv(command[0], [*command, f"{flag}={s.fileno()}"])


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("samples")
    for opt in ("--path", "--side", "--tool", "--nats-pub", "--nats-sub", "--perftest", "--producer-perf", "--ghz",
                "--ceilings"):
        r.add_argument(opt)
    r.add_argument("--repeat", type=int)
    r.add_argument("--set", action="append")
    sub.add_parser("message-bytes").add_argument("ceilings")
    sub.add_parser("ghz-data").add_argument("min_bytes", nargs="?", type=int, default=0)
    e = sub.add_parser("exec-listening")
    e.add_argument("flag")
    e.add_argument("portfile")
    e.add_argument("command", nargs=argparse.REMAINDER)
    sub.add_parser("summarize").add_argument("outdir")
    a = ap.parse_args()
    if a.cmd == "record":
        record(a)
    elif a.cmd == "message-bytes":
        print(json.loads(Path(a.ceilings).read_text())["message_bytes"])
    elif a.cmd == "ghz-data":
        ghz_data(a.min_bytes)
    elif a.cmd == "exec-listening":
        exec_listening(a.flag, a.portfile, a.command)
    else:
        summarize(a.outdir)


if __name__ == "__main__":
    main()
