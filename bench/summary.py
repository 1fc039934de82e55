"""`bench/results/SUMMARY.md` from the section JSON files present in the results directory."""
from __future__ import annotations

import json
from pathlib import Path

from bench.backends import MAX_F1_DROP
from bench.flops import TARGET_FRACTION
from bench.server_load import BATCHING_ON, THREAD_MODE

EQUAL_LABELS = 0.995  # word agreement on identical-input sentences counted as "equal labels" (float noise near ties)


def _load(results: Path, name: str) -> dict | None:
    try:
        return json.loads((results / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None


def _f(x, digits: int = 1, suffix: str = "") -> str:
    if x is None:
        return "–"
    if isinstance(x, (int, float)):
        return f"{x:.{digits}f}{suffix}"
    return str(x)


def _get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _pct(x, digits: int = 1) -> str:
    return _f(100 * x if isinstance(x, (int, float)) else None, digits, " %")


def _meta_line(data: dict) -> str:
    m = data.get("meta", {})
    quick = " · **quick/smoke**" if m.get("quick") else ""
    return f"_measured {m.get('date')} · commit {m.get('commit')} · {m.get('threads')} threads{quick} · `{m.get('command')}`_"


# ---- sections -------------------------------------------------------------------
def _predictor(d: dict) -> list[str]:
    out = ["## 1. Predictor vs `transformers.pipeline`", "", _meta_line(d), "",
           "Same model, same raw sentences (ANERcorp test tokens joined by spaces), each side in its own process. "
           "Agreement = share of gold tokens given the same BIO tag by both sides (entities mapped back onto the tokens), "
           "against the pipeline at its default batch size. " + d.get("words_definition", "") + ". "
           "*Identical input* = the sentences where both sides feed the model the same word pieces in one sequence: "
           "elsewhere the Predictor, by design, splits sentences, splits letters from digits (`و6` → `و 6`) and applies the "
           "model's normalisation (drops diacritics) before the tokenizer, which a random-weight model answers with different "
           "labels for the whole sentence.", ""]
    for model in d["models"]:
        out += [f"**{model['model']}** — {model['sentences']} sentences ({model.get('identical_input_sentences')} with identical input), {model['words']} words", "",
                "| side | sentences/s | words/s | peak RSS MB | word agreement | on identical input | sentence agreement | × best pipeline |",
                "|---|---|---|---|---|---|---|---|"]
        for name, r in model["rows"].items():
            if "error" in r:
                out.append(f"| {name} | failed: {r['error'][:120]} | | | | | | |")
                continue
            a = r["agreement_with_pipeline"]
            out.append(f"| {name} | {_f(r['sentences_per_s'])} | {_f(r['words_per_s'], 0)} | {_f(r['peak_rss_mb'], 0)} | "
                       f"{_f(100 * a['word_agreement'], 2, ' %')} | {_pct(a.get('identical_input_word_agreement'), 2)} | {_f(100 * a['sentence_agreement'], 1, ' %')} | "
                       f"{_f(r.get('speedup_vs_best_pipeline'), 2, '×')} |")
        out.append("")
    out += [f"- {n}" for n in d.get("notes", [])]
    return out + ["", "![predictor](predictor.png)", ""]


def _backends(d: dict) -> list[str]:
    s = d.get("sentences", {})
    out = ["## 2. Backends and precisions", "", _meta_line(d), "",
           f"Speed through the whole Predictor (text in, entities out). Bundled NER: {s.get('bundled_ner')} ANERcorp test sentences "
           f"(F1 = seqeval entity micro-F1, %); stance: {s.get('stance_pairs') or 'no'} ANS test pairs (macro-F1, %); BERT-base shape: "
           f"{s.get('base')} sentences. Size = weights as stored for that backend (the int8 torch model: its quantised state dict). "
           "Δ = against torch fp32 in the same run, in points. RSS = the measuring process's peak, model loading "
           "(e.g. ONNX Runtime's session set-up) included; backends.json also has `rss_at_end_mb`, the steady state.", "",
           "| backend | base sent/s | × fp32 | base RSS MB | base size MB | bundled NER sent/s | NER F1 | ΔF1 | stance pairs/s | stance macro-F1 | Δ | bundled RSS MB | bundled NER size MB |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        base, bun = r.get("base", {}), r.get("bundled", {})
        out.append(
            f"| {_backend_row_name(r)} | {_f(_get(base, 'ner', 'sentences_per_s'))} | {_f(_get(base, 'ner', 'speedup_vs_torch_fp32'), 2, '×')} | "
            f"{_f(base.get('peak_rss_mb'), 0)} | {_f(_get(base, 'ner', 'size_mb'), 0)} | {_f(_get(bun, 'ner', 'sentences_per_s'))} | "
            f"{_f(_get(bun, 'ner', 'f1'), 2)} | {_f(_get(bun, 'ner', 'delta_f1'), 2)} | {_f(_get(bun, 'stance', 'pairs_per_s'))} | "
            f"{_f(_get(bun, 'stance', 'macro_f1'), 2)} | {_f(_get(bun, 'stance', 'delta_macro_f1'), 2)} | {_f(bun.get('peak_rss_mb'), 0)} | "
            f"{_f(_get(bun, 'ner', 'size_mb'), 0)} |")
        for part in ("base", "bundled"):
            if "error" in r.get(part, {}):
                out.append(f"|  ↳ {part} failed: {r[part]['error'][:160]} |||||||||||||")
    rec = d.get("recommended_default") or {}
    out += ["", f"**Fastest named setting on this host within ΔF1 ≤ {MAX_F1_DROP} (NER and stance) with batch-independent labels:** `--backend {rec.get('backend')} --precision {rec.get('precision')}` — {rec.get('why')}", ""]
    pipeline = d.get("pipeline") or {}
    for key, value in pipeline.items():
        if key.startswith("auto, "):
            out.append(f"- {key}: {_f(value['times_pipeline'], 2, '×')} the Hugging Face pipeline (torch fp32, batch "
                       f"{pipeline['batch_size']}, {_f(pipeline['sentences_per_s'])} sentences/s) on the bundled NER model")
    out += [f"- {n}" for n in d.get("notes", [])]
    return out + ["", "![backends](backends.png)", ""]


def _backend_row_name(row: dict) -> str:
    """A row of the backends table: the path asked for, and for `auto` the host and what it chose."""
    if (row["backend"], row["precision"]) != ("auto", "auto"):
        return f"{row['backend']} {row['precision']}"
    chosen = _get(row, "bundled", "chosen", "ner") or _get(row, "base", "chosen", "ner") or {}
    return f"auto, {row.get('host')} → {chosen.get('backend')} {chosen.get('precision')}"


def _flops(d: dict) -> list[str]:
    lim = d["matmul_limit_gflop_per_s"]
    out = ["## 3. FLOP efficiency (BERT-base shape)", "", _meta_line(d), "",
           f"Matmul limit measured in the same run: fp32 {_f(lim.get('fp32'), 0)} GFLOP/s, bf16 {_f(lim.get('bf16'), 0)}, "
           f"int8 {_f(lim.get('int8'), 0)} GOP/s ({d['limit_notes']}). FLOPs: {d['flop_model']}. "
           "Batches = sentences around the median length, padded to the longest of them; the backend alone (no tokenisation).", "",
           "| backend | batch | padded length | GFLOP/s | of fp32 limit | of matched limit | sentences/s | limit in its window (before/after) |",
           "|---|---|---|---|---|---|---|---|"]
    for b in d["backends"]:
        if "error" in b:
            out.append(f"| {b['backend']} {b['precision']} | failed: {b['error'][:120]} |||||||")
            continue
        before, after = b.get("limit_before", {}), b.get("limit_after", {})
        window = ", ".join(f"{k} {_f(before.get(k), 0)}/{_f(after.get(k), 0)}" for k in sorted(b.get("window_limit_gflop_per_s", {})))
        for r in b["rows"]:
            out.append(f"| {b['backend']} {b['precision']} | {r['batch']} | {r['padded_length']} | {_f(r['gflop_per_s'], 0)} | "
                       f"{_f(100 * r['fraction_of_fp32_limit'] if r['fraction_of_fp32_limit'] is not None else None, 0, ' %')} | "
                       f"{_f(100 * r['fraction_of_matched_limit'] if r['fraction_of_matched_limit'] is not None else None, 0, ' %')} | "
                       f"{_f(r['sentences_per_s'])} | {window or '–'} |")
    return out + ["", "![flops](flops.png)", ""]


def _server(d: dict) -> list[str]:
    out = ["## 4. Server under load", "", _meta_line(d), "",
           f"`kashif serve` on loopback, model: {d['model']}, {d['backend']}; load: {d['load_generator']}, "
           f"{d['seconds_per_level']:g} s per level, best of {d.get('repeats', 1)} runs taken alternately with the other modes "
           "(all servers up, each warmed at every level first); single-sentence `/v1/entities` requests.", "",
           "| mode | connections | requests/s | p50 ms | p95 ms | p99 ms | non-2xx | socket errors |", "|---|---|---|---|---|---|---|---|"]
    for mode, levels in d["levels"].items():
        for c, r in levels.items():
            if not isinstance(r, dict):
                continue
            out.append(f"| {mode} | {c} | {_f(r['requests_per_s'])} | {_f(r['p50_ms'])} | {_f(r['p95_ms'])} | {_f(r['p99_ms'])} | "
                       f"{r['non_2xx']} | {r['socket_errors']} |")
    ratios = ", ".join(f"c={c}: {_f(v, 2, '×')}" for c, v in d.get("batching_speedup", {}).items())
    b = d["burst"]
    out += ["", f"Micro-batching on/off requests/s: {ratios}.", ""]
    thread = d["levels"].get(THREAD_MODE, {}).get("64")
    if thread:
        default = d["levels"][BATCHING_ON]["64"]["requests_per_s"]
        out += [f"Inference in a child process (the default) vs in the server's own thread, batching on, c=64: "
                f"{_f(default)} vs {_f(thread['requests_per_s'])} requests/s ({_f(default / thread['requests_per_s'], 2, '×')}).", ""]
    out += [
            f"**Burst:** {b['waves']} waves of {b['burst_size']} simultaneous requests (8× `--max-queue {b['queue_limit']}`"
            f"{', --max-queue-delay-ms ' + str(b['max_queue_delay_ms']) if b.get('max_queue_delay_ms') else ''}; "
            f"client: {b.get('client', 'python asyncio + httpx')}): "
            f"statuses {b['statuses']}, refused (503/429) {_f(100 * b['refused_fraction'] if b['refused_fraction'] is not None else None, 1, ' %')}; "
            f"accepted p50/p99 {_f(b['accepted_p50_ms'])}/{_f(b['accepted_p99_ms'])} ms vs unloaded p50/p99 "
            f"({b.get('unloaded_requests', 40)} sequential requests, same client) "
            f"{_f(b['unloaded_p50_ms'])}/{_f(b['unloaded_p99_ms'])} ms (p99 ratio {_f(b['p99_ratio'], 2, '×')}); "
            f"server alive afterwards: {b.get('server_alive')}; normal requests afterwards succeed: {b['recovered']}.",
            "", "![server](server.png)", ""]
    return out


# ---- targets -------------------------------------------------------------------------
def _targets(results: Path) -> list[str]:
    rows: list[tuple[str, str, str]] = []
    pred, back, flops, server = (_load(results, n) for n in ("predictor", "backends", "flops", "server"))

    if pred:
        base = pred["models"][0]
        cands = [(k, r) for k, r in base["rows"].items() if k.startswith("predictor") and r.get("speedup_vs_best_pipeline")]
        def same(r: dict) -> float:
            a = r["agreement_with_pipeline"]
            return a.get("identical_input_word_agreement") or 0.0

        measured = "; ".join(f"{k}: {r['speedup_vs_best_pipeline']:.2f}× (word agreement {_pct(r['agreement_with_pipeline']['word_agreement'], 2)}, "
                             f"{_pct(same(r), 2)} on identical input)" for k, r in cands)
        holds = any(r["speedup_vs_best_pipeline"] >= 3 and same(r) >= EQUAL_LABELS for _, r in cands)
        ceiling = base.get("fp32_ceiling")
        if ceiling:
            need = 3 * ceiling["pipeline_fraction_of_fp32_limit"]
            bare = max((r["fraction_of_fp32_limit"] for b in (flops or {}).get("backends", []) if (b.get("backend"), b.get("precision")) == ("torch", "fp32")
                        for r in b.get("rows", []) if r["batch"] in (8, 32) and r.get("fraction_of_fp32_limit")), default=None)
            measured += (f". At fp32 (equal labels): the pipeline runs at {_pct(ceiling['pipeline_fraction_of_fp32_limit'], 0)} of the fastest "
                         f"fp32 matmul this run measured ({_f(ceiling['fp32_limit_gflop_per_s'], 0)} GFLOP/s), so 3× needs {_pct(need, 0)} of it "
                         f"end to end" + (f", more than the bare fp32 forward pass reaches at batch 8/32 ({_pct(bare, 0)}, section 3)" if bare and bare < need
                                          else (f"; the bare fp32 forward pass reaches {_pct(bare, 0)} (section 3)" if bare else "")))
        rows.append((f"Predictor ≥ 3× HF pipeline (best of its batch sizes), BERT-base shape, equal labels (≥ {100 * EQUAL_LABELS:.1f} % word agreement on identical input)", measured or "–", _yes(holds) if cands else "not measured"))
    else:
        rows.append(("Predictor ≥ 3× HF pipeline", "–", "not measured"))

    rec = (back or {}).get("recommended_default") or {}
    if back:
        fp32_speeds = {f"{r['backend']} {r['precision']}": (_get(r, 'base', 'ner', 'speedup_vs_torch_fp32'), _get(r, 'bundled', 'ner', 'delta_f1')) for r in back["rows"]}
        measured = "; ".join(f"{k}: {_f(s, 2, '×')}, ΔF1 {_f(dl, 2)}" for k, (s, dl) in fp32_speeds.items() if k != "torch fp32")
        holds = bool(rec.get("speedup") and rec["speedup"] >= 2 and rec.get("quality_checked"))
        verdict = _yes(holds) + ("" if rec.get("quality_checked") else " (quality unchecked: no bundled model)")
        rows.append((f"Best CPU backend ≥ 2× torch fp32 with ΔF1 ≤ {MAX_F1_DROP}", measured, verdict))
    else:
        rows.append(("Best CPU backend ≥ 2× torch fp32", "–", "not measured"))

    if flops:
        want = (rec.get("backend"), rec.get("precision")) if rec else None
        parts, holds = [], None
        for b in flops["backends"]:
            if "rows" not in b:
                continue
            fr = {r["batch"]: r["fraction_of_matched_limit"] for r in b["rows"] if r["batch"] in (8, 32)}
            parts.append(f"{b['backend']} {b['precision']}: " + ", ".join(f"b{k} {_f(100 * v if v is not None else None, 0, ' %')}" for k, v in fr.items()))
            if want == (b["backend"], b["precision"]) or (want is None and (b["backend"], b["precision"]) == ("torch", "fp32")):
                holds = all(v is not None and v >= TARGET_FRACTION for v in fr.values()) and bool(fr)
        label = f"≥ {100 * TARGET_FRACTION:.0f} % of the matmul limit (precision-matched) at batch 8 and 32, for the default backend ({_f(rec.get('backend'))} {_f(rec.get('precision'))})"
        rows.append((label, "; ".join(parts), _yes(holds) if holds is not None else "default backend not measured"))
    else:
        rows.append(("≥ 60 % of matmul limit", "–", "not measured"))

    if server:
        sp = server.get("batching_speedup", {})
        c64, c1 = sp.get("64"), sp.get("1")
        rows.append(("Server: batching ≥ 4× no batching at c=64", _f(c64, 2, "×"), _yes(c64 is not None and c64 >= 4)))
        rows.append(("Server: batching no slower at c=1 (≥ 0.95×, run-to-run noise)", _f(c1, 2, "×"), _yes(c1 is not None and c1 >= 0.95)))
        b = server["burst"]
        ok = b["p99_ratio"] is not None and b["p99_ratio"] < 2 and b.get("server_alive") and b["recovered"]
        rows.append(("Burst 8× queue: accepted p99 < 2× unloaded p99, nothing crashes, recovers",
                     f"p99 {_f(b['accepted_p99_ms'])} vs {_f(b['unloaded_p99_ms'])} ms ({_f(b['p99_ratio'], 2, '×')}), "
                     f"refused {_f(100 * b['refused_fraction'] if b['refused_fraction'] is not None else None, 0, ' %')}, "
                     f"alive {b.get('server_alive')}, recovered {b['recovered']}", _yes(ok)))
    else:
        rows.append(("Server targets", "–", "not measured"))
    return ["## Targets (issue 7)", "", "| target | measured | holds? |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows] + [""]


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def write_summary(results: Path, command: str, machine: dict, quick: bool, commit: str, date: str) -> Path:
    lines = ["# Kashif benchmarks", ""]
    if quick:
        lines += ["> **quick/smoke run, CPU shared with a training run.** Small slices and short durations: these figures check "
                  "that the benchmark works; they are not the figures to quote. `make bench` on a quiet machine gives those.", ""]
    lines += [f"- command (this summary; each section names its own run): `{command}`", f"- date: {date}", f"- commit: {commit}",
              f"- machine: {machine.get('cpu')}, {machine.get('cores')} cores ({', '.join(machine.get('cpu_flags', []))}), "
              f"{machine.get('memory_gib')} GiB; load average at start {machine.get('load_average_at_start')}",
              f"- software: Python {machine.get('python')}, torch {machine.get('torch')}, onnxruntime {machine.get('onnxruntime')}, "
              f"transformers {machine.get('transformers')}",
              "- ratios measured side by side in one run are the figures to quote; absolute speeds vary between machines.", ""]
    lines += _targets(results)
    for name, render in (("predictor", _predictor), ("backends", _backends), ("flops", _flops), ("server", _server)):
        data = _load(results, name)
        if data:
            try:
                lines += render(data)
            except (KeyError, TypeError) as err:
                lines += [f"## {name}", "", f"(results file present but unreadable: {err})", ""]
    lines += _score(results)
    gpu = _load(results, "gpu") or {}
    lines += ["## 6. GPU", "", gpu.get("status", "not measured: no GPU lent to this session"), ""]
    path = results / "SUMMARY.md"
    path.write_text("\n".join(lines))
    return path


def _score(results: Path) -> list[str]:
    data = _load(results, "score")
    files = sorted(p.name for p in results.glob("score*") if p.suffix in (".md", ".json", ".png"))
    out = ["## 5. Batch scoring", ""]
    if data and data.get("summary_md"):
        out.append(data["summary_md"])
    elif files:
        out.append("See " + ", ".join(f"[{f}]({f})" for f in files) + " (written by `bench/score_bench.py`).")
    else:
        out.append("not measured in this run (`bench/score_bench.py` absent or not run)")
    return out + [""]
