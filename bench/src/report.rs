//! results.json, results.md, and the published section of BENCHMARKS.md.

use crate::phases::Results;
use crate::Args;
use anyhow::{Context, Result};
use std::fmt::Write as _;

const START: &str = "<!-- results:start -->";
const END: &str = "<!-- results:end -->";

pub fn write(r: &Results, args: &Args) -> Result<()> {
    let out = &args.out;
    std::fs::write(out.join("results.json"), serde_json::to_string_pretty(r)?)?;
    crate::charts::latency_cdf(r, &out.join("latency-cdf.svg"))?;
    crate::charts::throughput(r, &out.join("throughput.svg"))?;
    let md = markdown(r, args);
    std::fs::write(out.join("results.md"), &md)?;
    if let Some(path) = &args.publish {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("while reading {}", path.display()))?;
        let (Some(a), Some(b)) = (text.find(START), text.find(END)) else {
            anyhow::bail!("{} has no {START} ... {END} section", path.display());
        };
        let new = format!("{}{START}\n{md}\n{}", &text[..a], &text[b..]);
        std::fs::write(path, new)?;
    }
    println!("{md}");
    Ok(())
}

fn f(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn markdown(r: &Results, args: &Args) -> String {
    let mut s = String::new();
    let m = &r.machine;
    let _ = writeln!(
        s,
        "Measured {} on {} cores ({}), {} GiB, Linux {}{}.\n\nCommand: `{}`\n",
        r.date,
        m.cores,
        m.cpu,
        m.memory_gib,
        m.kernel,
        if r.quick {
            " — quick mode, not for comparison"
        } else {
            ""
        },
        r.command
    );
    for skipped in &r.skipped {
        let _ = writeln!(s, "- not measured: {skipped}");
    }
    if let Some(floor) = &r.floor_warm {
        let _ = writeln!(
            s,
            "### Warm invoke latency ({} sequential requests)\n",
            floor.n
        );
        let _ = writeln!(s, "| target | p50 ms | p90 ms | p99 ms | max ms | added p50 ms | added p99 ms | p50 ratio |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            s,
            "| floor (axum echo) | {} | {} | {} | {} | | | 1.00 |",
            f(floor.p50_ms),
            f(floor.p90_ms),
            f(floor.p99_ms),
            f(floor.max_ms)
        );
        for (rt, w) in &r.warm {
            let _ = writeln!(
                s,
                "| {rt} | {} | {} | {} | {} | {} | {} | {:.2} |",
                f(w.p50_ms),
                f(w.p90_ms),
                f(w.p99_ms),
                f(w.max_ms),
                f(w.p50_ms - floor.p50_ms),
                f(w.p99_ms - floor.p99_ms),
                w.p50_ms / floor.p50_ms
            );
        }
        let _ = writeln!(s, "\n![warm latency CDF](bench/results/latency-cdf.svg)\n");
    }
    if !r.cold.is_empty() {
        let _ = writeln!(s, "### Cold start ({} samples each)\n", r.cold[0].invoke.n);
        let _ = writeln!(s, "| runtime | invoke→response p50 ms | p90 ms | Init Duration p50 ms | floor | floor p50 ms | overhead p50 ms |");
        let _ = writeln!(s, "|---|---:|---:|---:|---|---:|---:|");
        for c in &r.cold {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | `{}` | {} | {} |",
                c.runtime,
                f(c.invoke.p50_ms),
                f(c.invoke.p90_ms),
                f(c.init_duration.p50_ms),
                c.floor_label,
                f(c.floor.p50_ms),
                f(c.invoke.p50_ms - c.floor.p50_ms)
            );
        }
        s.push('\n');
    }
    if !r.throughput.is_empty() {
        let _ = writeln!(s, "### Throughput (no-op invokes)\n");
        let _ = writeln!(
            s,
            "| target | clients | seconds | requests | errors | req/s | p99 ms | share of floor |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for t in &r.throughput {
            let floor = r
                .throughput
                .iter()
                .find(|x| x.target == "floor" && x.clients == t.clients)
                .map_or(f64::NAN, |x| x.per_second);
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} | {} | {} | {:.0} | {} | {:.0} % |",
                t.target,
                t.clients,
                t.seconds,
                t.requests,
                t.errors,
                t.per_second,
                f(t.p99_ms),
                100.0 * t.per_second / floor
            );
        }
        let _ = writeln!(s, "\n![throughput](bench/results/throughput.svg)\n");
    }
    if !r.density.is_empty() {
        let _ = writeln!(s, "### Idle environment memory\n");
        let _ = writeln!(s, "| runtime | environments | runtime process RSS MiB | bare interpreter RSS MiB | added MiB | whole environment PSS MiB |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
        for d in &r.density {
            let floor = d.floor_rss_mib.unwrap_or(f64::NAN);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                d.runtime,
                d.environments,
                f(d.runtime_rss_mib),
                f(floor),
                f(d.runtime_rss_mib - floor),
                f(d.env_pss_mib)
            );
        }
        s.push('\n');
    }
    if !r.scaleout.is_empty() {
        let _ = writeln!(s, "### Scale-out (concurrent invokes of a function sleeping 1 s, from zero environments)\n");
        let _ = writeln!(
            s,
            "| environments | all answered ms | scale-out ms (minus the sleep) | sandboxes/s |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|");
        for o in &r.scaleout {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.0} |",
                o.environments,
                f(o.all_answered_ms),
                f(o.scale_out_ms),
                o.sandboxes_per_second
            );
        }
        s.push('\n');
    }
    if let Some(c) = &r.control {
        let _ = writeln!(s, "### Control plane\n");
        let _ = writeln!(s, "| measurement | value |");
        let _ = writeln!(s, "|---|---:|");
        let _ = writeln!(
            s,
            "| CreateFunction, 8 clients | {:.0} functions/s |",
            c.create_per_second
        );
        let _ = writeln!(
            s,
            "| ListFunctions, all {} functions, 50 per page | {} ms |",
            c.functions,
            f(c.list_all_ms)
        );
        let _ = writeln!(
            s,
            "| ListFunctions, one page p50 / p99 | {} / {} ms |",
            f(c.list_page.p50_ms),
            f(c.list_page.p99_ms)
        );
        let _ = writeln!(
            s,
            "| CreateFunction, {:.1} MiB zip, p50 | {} ms |",
            c.big_zip_mib,
            f(c.create_big_zip.p50_ms)
        );
        s.push('\n');
    }
    let _ = args;
    s
}
