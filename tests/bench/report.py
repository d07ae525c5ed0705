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


def decimals(v):
    """Decimals that give v about 3 significant digits."""
    a = abs(v)
    if a >= 100 or a == 0:
        return 0 if a else 2
    return max(0, 2 - math.floor(math.log10(a)))


def num(v, places=None):
    if v is None:
        return "?"
    return "%.*f" % (decimals(v) if places is None else places, v)


def stat_decimals(median, lo, hi, scale=1.0):
    """Decimals for a median and its range: the largest's."""
    return decimals(max(abs(median), abs(lo), abs(hi)) * scale)


def stat_text(median, lo, hi, scale=1.0, suffix=""):
    """median (min..max), all three with the same decimals."""
    if median is None or lo is None or hi is None:
        return "?"
    d = stat_decimals(median, lo, hi, scale)
    return "%s%s (%s..%s)" % (num(median * scale, d), suffix, num(lo * scale, d),
                              num(hi * scale, d))


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
                label = num(r["median"] * scale,
                            stat_decimals(r["median"], r["min"], r["max"], scale)) + (
                    "%" if better == "higher" else "x")
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
    args = p.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
