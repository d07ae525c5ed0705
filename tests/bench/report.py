# SPDX-License-Identifier: BSD-3-Clause
"""The benchmark suite's report (tests/bench/suite.sh runs it).

  report.py machine
      the machine line: CPU model, online cores, kernel
  report.py merge --out FILE [--commit C] [--condition KEY VALUE]...
                  [--step NAME STATUS SECONDS REASON]... STEP_DIR
      one results file from the JSON each step's program wrote to
      STEP_DIR/NAME.json (tests/bench/bench.h describes it), with the
      machine, the date, the commit and each step's status
  report.py table RESULTS
      the summary: ratio to the baseline measured in the same run first,
      then the absolute figure, each a median with min..max
  report.py plot RESULTS PNG
      a bar chart of the ratios (median, whiskers min..max), one panel per
      step, drawn by gnuplot; the data and script are kept beside the PNG
  report.py system --dir DIR --runs N --seconds S --rate PPS [--json FILE]
                   [--context KEY VALUE]...
      the system step's figures (tests/bench/system.sh) from lbgen's JSON
      summaries in DIR: lb-RUN-max, fwd-RUN-max (max-rate runs through
      lb-dpdk and testpmd), lb-RUN-lat, fwd-RUN-lat (at PPS), RUN = 1..N;
      prints them and writes them as tests/bench/bench.h describes

Only Python's standard library: it runs with Debian's /usr/bin/python3.
"""
import argparse
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys

# What each step measures, for the table's and the plot's headings. A step
# not listed here is shown under its own name.
STEP_TITLES = {
    "worker": "lb-dpdk worker, one core (in-process)",
    "pkt": "packet core, one core",
    "system": "system: lbgen -> lb-dpdk -> lbgen over memif",
    "xdp": "XDP balancer, BPF_PROG_TEST_RUN",
    "maglev": "Maglev table builds",
    "health": "health checks, 10 000 backends every second",
}


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_mib = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    memory_mib = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "memory_mib": memory_mib,
    }


def machine_line(m):
    line = "machine: %s, %s cores, kernel %s" % (m["cpu"], m["cores"], m["kernel"])
    if m.get("memory_mib"):
        line += ", %.0f GiB" % (m["memory_mib"] / 1024)
    return line


def cmd_machine(_args):
    print(machine_line(machine()))
    return 0


def cmd_merge(args):
    steps = []
    for name, status, seconds, reason in args.step or []:
        step = {
            "name": name,
            "title": STEP_TITLES.get(name, name),
            "status": status,
            "seconds": float(seconds) if seconds else None,
            "reason": reason or None,
            "figures": [],
        }
        path = os.path.join(args.step_dir, name + ".json")
        if status == "ok":
            try:
                with open(path) as f:
                    data = json.load(f)
            except (OSError, ValueError) as e:
                step["status"] = "failed"
                step["reason"] = "no figures: %s" % e
                data = None
            if data is not None:
                step["program"] = data.get("program")
                step["runs"] = data.get("runs")
                step["context"] = data.get("context", {})
                step["figures"] = data.get("figures", [])
        # What the program warned about (bench_health: checks failed, the
        # rate not held) qualifies its figures: it goes with them.
        try:
            with open(os.path.join(args.step_dir, name + ".log")) as f:
                warnings = [line.strip() for line in f if line.startswith("WARNING")]
        except OSError:
            warnings = []
        if warnings:
            step["warnings"] = warnings
        steps.append(step)
    results = {
        "suite": "fulcrum make bench",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": args.commit,
        "machine": machine(),
        "conditions": dict(args.condition or []),
        "steps": steps,
    }
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    os.replace(tmp, args.out)
    return 0


def num(v):
    """v with about 3 significant digits, without an exponent."""
    if v is None:
        return "?"
    a = abs(v)
    places = 0 if a >= 100 or a == 0 else max(0, 2 - math.floor(math.log10(a)))
    return "%.*f" % (places, v)


def stat_text(median, lo, hi, scale=1.0, suffix=""):
    """median (min..max), each number with its own 3 digits: a single
    stalled run (a max 1000 times the median) must not blur the median."""
    if median is None or lo is None or hi is None:
        return "?"
    return "%s%s (%s..%s)" % (num(median * scale), suffix, num(lo * scale), num(hi * scale))


def ratio_text(fig):
    r = fig.get("ratio")
    if not r:
        return None
    if fig.get("better") == "higher":
        # A rate against the ceiling: what share of it this figure reaches.
        return stat_text(r["median"], r["min"], r["max"], 100, "%")
    return stat_text(r["median"], r["min"], r["max"], 1, "x")


def baselines_of(step):
    return {f["baseline"] for f in step["figures"] if f.get("baseline")}


def load(path):
    with open(path) as f:
        return json.load(f)


def cmd_table(args):
    res = load(args.results)
    m = res["machine"]
    c = res.get("conditions", {})
    print("Fulcrum benchmark suite, %s, commit %s" % (res["date"], res.get("commit") or "?"))
    print(machine_line(m))
    for key, value in c.items():
        print("%s: %s" % (key, value))
    print("Each figure: median of its runs (min..max). Ratio first: the figure over its "
          "baseline,")
    print("measured in the same run (x = cost in multiples of it, % = share of a rate "
          "ceiling);")
    print("then the absolute figure.")
    warned = [s["name"] for s in res["steps"] if s.get("warnings")]
    if warned:
        print("WARNINGS from %s: their figures are qualified, see below." % ", ".join(warned))
    rows = []
    for step in res["steps"]:
        based = baselines_of(step)
        for fig in step["figures"]:
            if fig["name"] in based:
                ratio, against = "baseline", ""
            else:
                ratio = ratio_text(fig) or "-"
                against = fig.get("baseline") or ""
            value = stat_text(fig["median"], fig["min"], fig["max"], 1, " " + fig["unit"])
            rows.append((step["name"], fig["name"], ratio, against, value, str(fig["runs"])))
    header = ("step", "figure", "vs baseline", "baseline", "absolute", "runs")
    if rows:
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        fmt = "  ".join("%%-%ds" % w for w in widths[:-1]) + "  %s"
        print()
        print(fmt % header)
        last = None
        for r in rows:
            if last is not None and r[0] != last:
                print()
            last = r[0]
            print((fmt % r).rstrip())
    print()
    for step in res["steps"]:
        took = " in %.1f s" % step["seconds"] if step.get("seconds") is not None else ""
        line = "%s: %s%s" % (step["name"], step["status"], took)
        if step.get("reason"):
            line += ": " + step["reason"]
        print(line)
        for key, value in (step.get("context") or {}).items():
            print("    %s: %s" % (key, value))
        for warning in step.get("warnings", []):
            print("    " + warning)
    return 0


def common_name(names):
    """What a panel's baselines share: "ring write" of "ring write, M=...",
    "bare checks, CPU per check" of "tcp: bare checks, ..." and "http: ..."."""
    names = sorted(names)
    if len(names) == 1:
        return names[0]
    prefix = os.path.commonprefix(names)
    if "," in prefix:
        prefix = prefix[: prefix.rfind(",")]
    if prefix.strip(" ,:"):
        return prefix.strip(" ,:")
    suffix = os.path.commonprefix([n[::-1] for n in names])[::-1]
    if " " in suffix:
        suffix = suffix[suffix.find(" ") + 1:]
    return suffix.strip(" ,:") or "its baseline"


def gp_string(s):
    """s as a gnuplot string in double quotes (where \\n is a new line)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def cmd_plot(args):
    res = load(args.results)
    out_dir = os.path.dirname(os.path.abspath(args.png))
    data_dir = os.path.join(out_dir, "plot")
    os.makedirs(data_dir, exist_ok=True)
    # A panel per step and way of being better (a step could mix them).
    panels = []
    for step in res["steps"]:
        for better in ("higher", "lower"):
            figs = [f for f in step["figures"] if f.get("ratio") and f.get("better") == better]
            if figs:
                panels.append((step, better, figs))
    if not panels:
        print("plot: no figure with a baseline among the steps run: no PNG")
        return 0
    gnuplot = shutil.which("gnuplot")
    m = res["machine"]
    title = "Fulcrum make bench, %s, commit %s\n%s, %s cores, kernel %s" % (
        res["date"], res.get("commit") or "?", m["cpu"], m["cores"], m["kernel"])
    cols = 1 if len(panels) == 1 else 2
    rows = (len(panels) + cols - 1) // cols
    lines = [
        "# Written by tests/bench/report.py from %s" % os.path.basename(args.results),
        "set encoding utf8",
        # noenhanced: names hold underscores (XDP_PASS), not subscripts.
        "set terminal pngcairo noenhanced size %d,%d font 'DejaVu Sans,10'" % (
            900 * cols, 100 + 440 * rows),
        "set output %s" % gp_string(os.path.abspath(args.png)),
        "set multiplot layout %d,%d title %s font ',12'" % (
            rows, cols, gp_string(title + "\nbars: median ratio to the baseline measured in "
                                  "the same run; whiskers: min..max over the runs; "
                                  "dashed: the baseline")),
        "set style fill solid 0.6 border -1",
        "set boxwidth 0.6",
        "set grid ytics",
        "set xtics rotate by 25 right nomirror font ',9'",
        "set bmargin 7",
        "set lmargin 14",
        "unset key",
    ]
    for i, (step, better, figs) in enumerate(panels):
        data = os.path.join(data_dir, "%s-%s.dat" % (step["name"], better))
        scale = 100.0 if better == "higher" else 1.0
        with open(data, "w") as f:
            f.write("# figure  ratio  min  max  label\n")
            for fig in figs:
                r = fig["ratio"]
                label = num(r["median"] * scale) + ("%" if better == "higher" else "x")
                f.write("%s %.6g %.6g %.6g %s\n" % (gp_string(fig["name"]), r["median"] * scale,
                                                    r["min"] * scale, r["max"] * scale,
                                                    gp_string(label)))
        base = common_name(baselines_of({"figures": figs}))
        if better == "higher":
            ylabel = "% of " + base + " (higher is better)"
            ref = 100
        else:
            ylabel = "x " + base + " (lower is better)"
            ref = 1
        lines += [
            "set title %s" % gp_string(step["title"]),
            "set ylabel %s" % gp_string(ylabel),
            "set xrange [-0.6:%g]" % (len(figs) - 0.4),
            # Room above the highest whisker for its label.
            "set yrange [0:%g]" % (max(max(f["ratio"]["max"] for f in figs) * scale, ref) * 1.15),
            "plot %s using 0:2:xtic(1) with boxes lc rgb '#4C72B0' notitle, \\" % gp_string(data),
            "     '' using 0:2:3:4 with yerrorbars pt 7 ps 0.4 lc rgb 'black' notitle, \\",
            "     '' using 0:4:5 with labels offset char 0,0.8 font ',9' notitle, \\",
            "     %g with lines dt 2 lw 1.5 lc rgb '#C44E52' notitle" % ref,
        ]
    lines.append("unset multiplot")
    script = os.path.join(data_dir, "results.gp")
    with open(script, "w") as f:
        f.write("\n".join(lines) + "\n")
    if not gnuplot:
        print("plot: gnuplot is not installed (make bench installs it): no PNG; "
              "the script is %s" % script)
        return 0
    rc = subprocess.run([gnuplot, script]).returncode
    if rc != 0:
        print("plot: gnuplot failed (%d) on %s" % (rc, script), file=sys.stderr)
        return 1
    return 0


def median_min_max(values):
    v = sorted(values)
    n = len(v)
    med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    return {"median": med, "min": v[0], "max": v[-1]}


def system_figure(name, unit, better, values, baseline=None, base_values=None):
    fig = {"name": name, "unit": unit, "better": better, "runs": len(values),
           "baseline": None, "ratio": None}
    fig.update(median_min_max(values))
    if baseline:
        # Paired: each run's figure over its baseline's measured beside it.
        ratios = [v / b if b else float("nan") for v, b in zip(values, base_values)]
        fig["baseline"] = baseline
        fig["ratio"] = dict(median_min_max(ratios), method="paired")
    return fig


def system_trouble(kind, r):
    """What makes a run's packets wrong, not just slow: lbgen's counts."""
    bad = ["%s %d" % (k, r[k]) for k in ("unknown_backend", "bad_checksum", "flow_mismatch",
                                         "duplicates", "flows_moved") if r.get(k)]
    if r.get("rx_packets", 0) == 0:
        bad.append("nothing came back")
    if kind == "fwd" and r["encap"].get("none", 0) != r["rx_packets"]:
        bad.append("%d tunnelled" % (r["rx_packets"] - r["encap"].get("none", 0)))
    return bad


def cmd_system(args):
    runs = {}
    for kind in ("lb", "fwd"):
        for what in ("max", "lat"):
            key = (kind, what)
            runs[key] = []
            for i in range(1, args.runs + 1):
                path = os.path.join(args.dir, "%s-%d-%s.json" % (kind, i, what))
                try:
                    runs[key].append(load(path))
                except (OSError, ValueError) as e:
                    print("system: %s: %s" % (path, e), file=sys.stderr)
                    return 1
    names = {"lb": "lb-dpdk", "fwd": "testpmd"}
    failed = False
    for (kind, what), rs in runs.items():
        for i, r in enumerate(rs, 1):
            bad = system_trouble(kind, r)
            if bad:
                print("system: run %d through %s (%s): %s" % (
                    i, names[kind], "max rate" if what == "max" else "fixed rate",
                    ", ".join(bad)))
                failed = True
    if failed:
        return 1

    def series(kind, what, f):
        return [f(r) for r in runs[(kind, what)]]

    mpps = {k: series(k, "max", lambda r: r["rx_pps"] / 1e6) for k in ("lb", "fwd")}
    p50 = {k: series(k, "lat", lambda r: r["latency_ns"]["p50"] / 1e3) for k in ("lb", "fwd")}
    p99 = {k: series(k, "lat", lambda r: r["latency_ns"]["p99"] / 1e3) for k in ("lb", "fwd")}
    rate_k = "%g Mpps" % (args.rate / 1e6) if args.rate >= 1e6 else "%g kpps" % (args.rate / 1e3)
    ceiling = "testpmd io (ceiling)"
    lat_base = "testpmd io at %s, latency" % rate_k
    figures = [
        system_figure(ceiling, "Mpps", "higher", mpps["fwd"]),
        system_figure("lb-dpdk, UDP flows, IPIP", "Mpps", "higher", mpps["lb"],
                      ceiling, mpps["fwd"]),
        system_figure(lat_base + " p50", "us", "lower", p50["fwd"]),
        system_figure("lb-dpdk at %s, latency p50" % rate_k, "us", "lower", p50["lb"],
                      lat_base + " p50", p50["fwd"]),
        system_figure(lat_base + " p99", "us", "lower", p99["fwd"]),
        system_figure("lb-dpdk at %s, latency p99" % rate_k, "us", "lower", p99["lb"],
                      lat_base + " p99", p99["fwd"]),
    ]

    # Whether lbgen held the fixed rate: it catches up after a stall, but
    # gives up 10% past the duration and says what it reached.
    held = {k: [r["tx_pps"] >= 0.99 * args.rate for r in runs[(k, "lat")]] for k in runs_kinds()}
    loss = {k: [r["loss_ratio"] for r in runs[(k, "max")]] for k in runs_kinds()}
    lat_packets = args.rate * args.seconds
    context = dict(args.context or [])
    context.update({
        "traffic": "UDP/IPv4, 70-byte frames (with FCS) from 5000 flows in random order to one "
                   "VIP of 3 backends; lb-dpdk returns them in IPIP (90 bytes), testpmd as sent",
        "placement": "lbgen on CPU 0 (one lcore sends and receives, memif client); the "
                     "forwarder's worker on CPU 1 (memif server, polling without pause)",
        "throughput": "max-rate runs of %d s: lbgen sends as fast as the memif ring takes "
                      "frames; the figure is packets back per second; lost on the way back "
                      "(rings full): lb-dpdk %s, testpmd %s (median, max)" % (
                          args.seconds, pct_pair(loss["lb"]), pct_pair(loss["fwd"])),
        "latency": "%s for %d s (%d packets a run), lbgen's TSC stamps; the rate held in %d "
                   "of %d runs through lb-dpdk, %d of %d through testpmd" % (
                       rate_k, args.seconds, lat_packets, sum(held["lb"]), args.runs,
                       sum(held["fwd"]), args.runs),
        "order": "each run goes through lb-dpdk (with lbd) and testpmd in turn, lb-dpdk first "
                 "in odd runs, testpmd first in even ones, each started afresh for each lbgen "
                 "run; ratios are paired run by run",
    })
    for k in runs_kinds():
        for i, (ok, r) in enumerate(zip(held[k], runs[(k, "lat")]), 1):
            if not ok:
                print("WARNING: run %d through %s did not hold %s: lbgen sent %.0f pps "
                      "(%.2f%% lost); its latency is at that rate" % (
                          i, names[k], rate_k, r["tx_pps"], 100 * r["loss_ratio"]))

    print()
    print("%-4s %22s %22s %9s   %-30s %-30s" % (
        "run", "lb-dpdk Mpps (lost)", "testpmd Mpps (lost)", "% of it",
        "lb-dpdk p50 / p99 us", "testpmd p50 / p99 us"))
    for i in range(args.runs):
        print("%-4d %22s %22s %8.1f%%   %-30s %-30s" % (
            i + 1, "%.3f (%.3f%%)" % (mpps["lb"][i], 100 * loss["lb"][i]),
            "%.3f (%.3f%%)" % (mpps["fwd"][i], 100 * loss["fwd"][i]),
            100 * mpps["lb"][i] / mpps["fwd"][i] if mpps["fwd"][i] else float("nan"),
            "%s / %s" % (num(p50["lb"][i]), num(p99["lb"][i])),
            "%s / %s" % (num(p50["fwd"][i]), num(p99["fwd"][i]))))
    print()
    for fig in figures:
        ratio = ratio_text(fig) or "baseline"
        print("%-42s %-26s %s" % (fig["name"], ratio,
                                  stat_text(fig["median"], fig["min"], fig["max"], 1,
                                            " " + fig["unit"])))
    for key, value in context.items():
        print("%s: %s" % (key, value))

    if args.json:
        m = machine()
        out = {"program": "tests/bench/system.sh", "runs": args.runs,
               "machine": {k: m[k] for k in ("cpu", "cores", "kernel")},
               "context": context, "figures": figures}
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
        os.replace(tmp, args.json)
    return 0


def runs_kinds():
    return ("lb", "fwd")


def pct_pair(ratios):
    s = median_min_max(ratios)
    return "%.3f%%, %.3f%%" % (100 * s["median"], 100 * s["max"])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("machine").set_defaults(func=cmd_machine)
    m = sub.add_parser("merge")
    m.add_argument("--out", required=True)
    m.add_argument("--commit")
    m.add_argument("--condition", nargs=2, action="append", metavar=("KEY", "VALUE"))
    m.add_argument("--step", nargs=4, action="append",
                   metavar=("NAME", "STATUS", "SECONDS", "REASON"))
    m.add_argument("step_dir")
    m.set_defaults(func=cmd_merge)
    t = sub.add_parser("table")
    t.add_argument("results")
    t.set_defaults(func=cmd_table)
    g = sub.add_parser("plot")
    g.add_argument("results")
    g.add_argument("png")
    g.set_defaults(func=cmd_plot)
    y = sub.add_parser("system")
    y.add_argument("--dir", required=True)
    y.add_argument("--runs", type=int, required=True)
    y.add_argument("--seconds", type=int, required=True)
    y.add_argument("--rate", type=float, required=True)
    y.add_argument("--json")
    y.add_argument("--context", nargs=2, action="append", metavar=("KEY", "VALUE"))
    y.set_defaults(func=cmd_system)
    args = p.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
