"""The tables, sentences and plot of `multimnist.py`.

Columns added to each summary row (one row per dataset and method):

```
vs_equal_mean_accuracy, vs_equal_mean_accuracy_ci95,
vs_equal_mean_accuracy_real
    mean accuracy (of the two tasks) minus `equal`'s, paired by seed,
    its 95% half width and whether the interval excludes 0 (blank on
    `equal`'s own row and where `equal` did not run)
time_vs_equal        s/epoch over `equal`'s s/epoch
published_left, published_right, published_source
    the first published entry for the row (blank when none)
published_all        every published entry as text
```
"""

import math
import pathlib

import _published_multimnist as published
import _results
import _stats

BASELINE = "equal"


def _datasets(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["dataset"] for r in rows))


def add_comparisons(rows: list[dict], runs: list[dict]) -> None:
    """Paired differences against `equal` and the time ratio."""
    for row in rows:
        dataset = row["dataset"]
        base = next((r for r in rows if r["dataset"] == dataset
                     and r["method"] == BASELINE), None)
        row["time_vs_equal"] = (row["epoch_seconds_mean"]
                                / base["epoch_seconds_mean"]
                                if base else math.nan)
        if base is None or row["method"] == BASELINE:
            row.update(vs_equal_mean_accuracy="",
                       vs_equal_mean_accuracy_ci95="",
                       vs_equal_mean_accuracy_real="")
            continue
        d = _stats.paired_difference(runs, "mean_accuracy", row["method"],
                                     BASELINE, where={"dataset": dataset})
        row.update(vs_equal_mean_accuracy=d["mean"],
                   vs_equal_mean_accuracy_ci95=d["half_width"],
                   vs_equal_mean_accuracy_real=d["real"])


def add_published(rows: list[dict]) -> None:
    for row in rows:
        found = published.entries(row["dataset"], row["method"])
        first = found[0] if found else ("", "", "")
        row["published_left"], row["published_right"] = first[:2]
        row["published_source"] = first[2]
        row["published_all"] = "; ".join(
            f"{left:.2f} / {right:.2f} ({source})"
            for left, right, source in found)


def verdicts(rows: list[dict], runs: list[dict]) -> list[str]:
    """Per dataset: which methods differ from `equal` (paired by seed)
    and from single-task (Δm%) beyond the seed noise."""
    notes = []
    for dataset in _datasets(rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        diffs = {r["method"]: _stats.paired_difference(
            runs, "mean_accuracy", r["method"], BASELINE,
            where={"dataset": dataset})
            for r in mine if r["method"] != BASELINE}
        if any(r["method"] == BASELINE for r in mine) and diffs:
            notes.append(f"{dataset}: " + _stats.verdict(
                diffs, metric_text="mean of the two test accuracies, "
                "points", baseline=BASELINE))
        deltas = {r["method"]: {
            "mean": r["delta_m_mean"], "half_width": r["delta_m_ci95"],
            "real": (not math.isnan(r["delta_m_ci95"])
                     and abs(r["delta_m_mean"]) > r["delta_m_ci95"])}
            for r in mine if r["method"] != "single_task"
            and not math.isnan(r["delta_m_mean"])}
        if deltas:
            notes.append(f"{dataset}: " + _stats.verdict(
                deltas, metric_text="Δm% over the two accuracies, "
                "negative = better than single-task",
                baseline="single_task", higher_is_better=False))
    return notes


def gap_notes(rows: list[dict], num_train: int, epochs: int) -> list[str]:
    """One note per published number more than 1 point from ours."""
    notes = []
    for row in rows:
        for left, right, source in published.entries(row["dataset"],
                                                     row["method"]):
            ours = (row["left_accuracy_mean"], row["right_accuracy_mean"])
            gaps = [o - p for o, p in zip(ours, (left, right))]
            if max(abs(g) for g in gaps) <= 1.0:
                continue
            why = published.WHY[source].format(pairs=f"{num_train:,}",
                                               epochs=epochs)
            notes.append(
                f"{row['dataset']} `{row['method']}`: ours "
                f"{ours[0]:.2f} / {ours[1]:.2f} against {left:.2f} / "
                f"{right:.2f} ({source}), a gap of {gaps[0]:+.2f} / "
                f"{gaps[1]:+.2f} points: {why}.")
    return notes


def protocol_notes(num_train: int) -> list[str]:
    return [published.FIGURES_ONLY,
            ("Single-task is one model with two MultiLeNet towers that "
             "share no parameter (sharing_depth=0), like the yeast and "
             "census benchmarks: with a plain sum of the losses and a "
             "per-parameter optimizer it trains as two separate "
             "networks on the same batches."),
            (f"{num_train:,} training pairs are composed from 13,000 "
             "MNIST training digits (MultiMNIST), so each digit appears "
             "in several pairs; more pairs add overlay combinations, not "
             "new digits."),
            ("Convergence (a calibration run of `equal`, seed 0, 30,000 "
             "pairs, while planning): MultiMNIST test accuracy after "
             "epochs 2 / 5 / 10 was 92.1/91.1, 95.7/95.0 and 96.9/96.1, "
             "so 5 epochs end about 1 point below 10 epochs; "
             "MultiFashion was 70.7/65.7, 75.0/72.9 and 77.7/76.0 after "
             "epochs 2 / 5 / 8, still rising about 1 point per epoch: "
             "at the default 5 epochs the Fashion tables compare "
             "methods at an equal, unconverged budget (the 35-minute "
             "limit of the whole default run allows no more), which is "
             "also why they run 4 methods, not 9.")]


def reference_text() -> str:
    return "; ".join(f"{key}: {text}"
                     for key, text in published.SOURCES.items())


def print_rows(rows: list[dict], seeds: int, epochs: int) -> None:
    print(f"\nTest accuracy (%), mean ± 95% interval over {seeds} "
          f"seed(s), {epochs} epoch(s). MultiMNIST from 15,000 real "
          "digits (not full MNIST).")
    ci = _stats.interval_text
    _results.print_table(
        ["dataset", "method", "left", "right", "vs equal", "Δm%",
         "s/epoch", "published"],
        [[r["dataset"], r["method"],
          ci(r["left_accuracy_mean"], r["left_accuracy_ci95"]),
          ci(r["right_accuracy_mean"], r["right_accuracy_ci95"]),
          (ci(r["vs_equal_mean_accuracy"], r["vs_equal_mean_accuracy_ci95"])
           if r["vs_equal_mean_accuracy"] != "" else "-"),
          ci(r["delta_m_mean"], r["delta_m_ci95"]),
          f"{r['epoch_seconds_mean']:.1f}", r["published_all"] or "-"]
         for r in rows])


def plot(rows: list[dict], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = _datasets(rows)
    fig, axes = plt.subplots(1, len(datasets),
                             figsize=(4.2 * len(datasets), 3.6),
                             squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for r in rows:
            if r["dataset"] != dataset:
                continue
            xerr, yerr = r["left_accuracy_ci95"], r["right_accuracy_ci95"]
            ax.errorbar(r["left_accuracy_mean"], r["right_accuracy_mean"],
                        xerr=None if math.isnan(xerr) else xerr,
                        yerr=None if math.isnan(yerr) else yerr,
                        fmt="o", capsize=2)
            ax.annotate(r["method"], (r["left_accuracy_mean"],
                                      r["right_accuracy_mean"]),
                        fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        ax.set_xlabel("left accuracy (%)")
        ax.set_ylabel("right accuracy (%)")
        ax.set_title(f"{dataset} (95% intervals)", fontsize=9)
    _results.save_figure(fig, path)
