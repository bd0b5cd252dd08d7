"""The one namespace of the verdict policy: the analysis, the report and the tests call
``policy.<name>``; each name lives in the module of its job:

* ``family``   — which tests enter a claim's family, Holm's step-down within each claim in both
  directions (against the look's group-sequential boundary in a sequential design);
* ``verdicts`` — one verdict per endpoint, per model (recipe) and per observation;
* ``rulebook`` — the rules as data (labels, rule codes, premises, texts), so the report prints
  exactly what the code does;
* ``not_run``  — claims this study did not run ("not run at this scale"), shown, not judged.
"""
from __future__ import annotations

from ganbench.stats.family import admit, adjust, members, step_down, study_wide, two_sided
from ganbench.stats.not_run import NOT_RUN, mark_not_run
from ganbench.stats.rulebook import (COMBINE_RULES, EQUIVALENCE_RULES, FAMILY_RULE, INCONCLUSIVE, NO_EVIDENCE_RULES,
                                     NONINFERIORITY_RULES, NOT_REPRODUCED, PREMISES, REPRODUCED, RULES,
                                     SIGNIFICANT, STATE_RULE, WEAKER)
from ganbench.stats.verdicts import (combine_endpoints, combine_groups, endpoint_verdict, equivalence_verdict,
                                     noninferiority_verdict, two_sided_verdict)

__all__ = [
    "admit", "adjust", "members", "step_down", "study_wide", "two_sided",
    "NOT_RUN", "mark_not_run",
    "COMBINE_RULES", "EQUIVALENCE_RULES", "FAMILY_RULE", "INCONCLUSIVE", "NO_EVIDENCE_RULES", "NONINFERIORITY_RULES",
    "NOT_REPRODUCED", "PREMISES", "REPRODUCED", "RULES", "SIGNIFICANT", "STATE_RULE", "WEAKER",
    "combine_endpoints", "combine_groups", "endpoint_verdict", "equivalence_verdict", "noninferiority_verdict",
    "two_sided_verdict",
]
