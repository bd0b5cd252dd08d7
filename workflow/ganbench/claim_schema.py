"""The vocabulary the claims table (ganbench.observations) is written in: the metrics (label and
which direction is better), the derived per-run metrics, and the record types ``Endpoint`` and
``Observation``. Nothing here names a claim; nothing imports a deep-learning framework.

An observation fixes, before data:

* its **primary endpoints** (``primary``): the metric named by the claim's text, the effect
  scale (``log_ratio`` for FID-like scores: log(treatment / control), so models of very
  different FID pool sensibly; ``difference`` for bounded scores; ``divergence`` = divergence
  rate difference over seeds; ``spread`` = log of the ratio of the seed SDs of log FID;
  ``equivalence`` for the frameworks; ``noninferiority`` for a claim that the treatment is no
  worse than the control by more than a margin, ``expected`` naming the worse side), the claimed direction of treatment vs control and the
  smallest effect size of interest (SESOI) on that scale. ``combine`` says how several
  primary endpoints make one verdict: ``all`` (the claim is a conjunction: "near-identical
  *and* never converges") or ``any`` (a stability claim is supported by a higher divergence
  rate *or* a larger seed spread);
* **secondary endpoints**: descriptive only (no correction, no verdict).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# ---------------------------------------------------------------------------
# Metrics: label and which direction is better (None: no better direction).
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricInfo:
    label: str
    better: str | None  # "lower" | "higher" | None


METRICS: dict[str, MetricInfo] = {
    "fid": MetricInfo("FID", "lower"),
    "kid_mean": MetricInfo("KID", "lower"),
    "is_mean": MetricInfo("IS", "higher"),
    "precision": MetricInfo("precision", "higher"),
    "recall": MetricInfo("recall", "higher"),
    "density": MetricInfo("density", "higher"),
    "coverage": MetricInfo("coverage", "higher"),
    "classes_covered": MetricInfo("classes covered", "higher"),
    "class_kl": MetricInfo("class KL", "lower"),
    "diversity": MetricInfo("diversity", "higher"),
    "fid_inception": MetricInfo("FID (Inception)", "lower"),
    "is_inception_mean": MetricInfo("IS (Inception)", "higher"),
    "fid_mid": MetricInfo("FID at mid-training (curve samples)", "lower"),
    "fid_end_curve": MetricInfo("FID at the end (curve samples)", "lower"),
    "fid_end_vs_mid": MetricInfo("log(FID end / FID mid), curve samples", "lower"),
    "final_d_loss": MetricInfo("final D loss", None),
    "final_g_loss": MetricInfo("final G loss", None),
    "final_d_real": MetricInfo("final D(x)", None),
    "final_d_fake": MetricInfo("final D(G(z))", None),
    "final_d_gap": MetricInfo("final D(x) - D(G(z))", None),
    "d_collapse_frac": MetricInfo("share of late logged steps with D loss < 0.1", None),
    "d_probe_gap": MetricInfo("D(train probe) - D(test probe)", None),
    "d_heldout_sep": MetricInfo("D(held-out real x) - D(G(z)), end of training", None),
    "loss_dominance": MetricInfo("log(G loss / D loss), second half of training", None),
    "g_grad_late": MetricInfo("log |gradient at G's first layer|, second half of training", None),
    "g_dead_late": MetricInfo("share of G's hidden units off for every probe sample, second half", None),
    "fid_trend_late": MetricInfo("change of log FID over the second half (least-squares fit)", "lower"),
    "divergence": MetricInfo("training-failure rate over seeds (diverged or did not learn)", "lower"),
    "spread": MetricInfo("seed spread of log FID (SD)", "lower"),
    "median_step_ms": MetricInfo("median step (ms)", "lower"),
    "images_per_s": MetricInfo("images/s", "higher"),
}

# Derived per-run metrics: name -> (numerator column, denominator column); value = log(num/den).
DERIVED: dict[str, tuple[str, str]] = {"fid_end_vs_mid": ("fid_end_curve", "fid_mid")}


def metric_label(name: str) -> str:
    info = METRICS.get(name)
    return info.label if info else name


@dataclass(frozen=True)
class Endpoint:
    metric: str  # summary column, a DERIVED name, "divergence" or "spread"
    scale: str  # "log_ratio" | "difference" | "divergence" | "spread" | "equivalence"
    expected: str | None  # claimed sign of treatment vs control: "higher" | "lower" | None
    sesoi: float  # smallest effect of interest on the effect scale (equivalence: the margin)
    why: str = ""  # why this endpoint / SESOI (printed in the report)

    @property
    def label(self) -> str:
        return metric_label(self.metric)

    @property
    def sesoi_text(self) -> str:
        pct = math.exp(self.sesoi) - 1
        if self.scale == "log_ratio":
            return f"{pct:+.0%} (log-ratio {self.sesoi:.3f})"
        if self.scale == "equivalence":
            return f"±{pct:.0%} (log-ratio ±{self.sesoi:.3f})"
        if self.scale == "noninferiority":
            return f"margin {pct:+.0%} (log-ratio {self.sesoi:.3f})"
        if self.scale == "spread":
            return f"SD ratio {math.exp(self.sesoi):.2f} (log {self.sesoi:.3f})"
        if self.scale == "divergence":
            return f"{self.sesoi:.2f} in training-failure rate"
        return f"{self.sesoi:g}"


# effect scales on which an FID-like score is compared as log(treatment / control)
LOG_SCALES = ("log_ratio", "equivalence", "noninferiority")


@dataclass(frozen=True)
class Observation:
    id: str
    title: str
    claim: str
    source: str
    recipes: tuple[str, ...]
    factor: str
    treatment_label: str
    control_label: str
    treatment: dict  # deviations of the treatment arm from the recipe
    control: dict
    primary: tuple[Endpoint, ...]
    combine: str = "all"  # "all" | "any": how several primary endpoints make one verdict
    secondary: tuple[Endpoint, ...] = ()
    references: tuple[tuple[str, dict], ...] = ()  # (label, deviations): descriptive arms
    kind: str = "difference"  # "difference" | "equivalence"
    notes: str = ""
    claim_is_stability: bool = False
    baseline_arm: str = ""  # "treatment" | "control": overrides the rule of baseline_role

    @property
    def baseline_role(self) -> str:
        """The arm the "did it learn" guard checks: the recipe's own setting (the arm with no
        deviations, the setting the source ran and said trained), else the control, unless the
        observation names it (``baseline_arm``: when the control's failure is the claim's effect)."""
        if self.baseline_arm:
            return self.baseline_arm
        return "treatment" if self.treatment == {} and self.control != {} else "control"

    @property
    def baseline(self) -> dict:
        return self.treatment if self.baseline_role == "treatment" else self.control

    def arms(self) -> list[tuple[str, str, dict]]:
        """(role, recipe, deviations) of every arm the grid must build."""
        out = []
        for recipe in self.recipes:
            out.append(("treatment", recipe, dict(self.treatment)))
            out.append(("control", recipe, dict(self.control)))
            for label, dev in self.references:
                out.append((label, recipe, dict(dev)))
        return out
