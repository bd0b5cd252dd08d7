rule aggregate:
    """One row per run of a look (its seeds for the claims still open): factors, status, metrics, training statistics, timing."""
    input:
        config=f"{RESULTS}/config.json",
        metrics=lambda wildcards: expand(
            f"{RUN_DIR}/metrics.json", run_id=look_run_ids(wildcards)
        ),
        status=lambda wildcards: expand(
            f"{RUN_DIR}/status.json", run_id=look_run_ids(wildcards)
        ),
    output:
        f"{RESULTS}/looks/{{look}}/summary.csv",
    log:
        f"{RESULTS}/logs/aggregate/look{{look}}.log",
    priority: 50
    conda:
        "../envs/ganbench.yaml"
    params:
        runs_dir=lambda wildcards, input: os.path.join(
            os.path.dirname(input.config), "runs"
        ),
        runs=look_run_ids,
    shell:
        "python -m ganbench.aggregate --config {input.config:q} --runs-dir {params.runs_dir:q}"
        " --runs {params.runs:q} --out {output:q} > {log:q} 2>&1"


checkpoint interim:
    """The interim analysis after a look: the claims it decides, and those that get the next look's seeds."""
    input:
        summary=f"{RESULTS}/looks/{{look}}/summary.csv",
        config=f"{RESULTS}/config.json",
    output:
        f"{RESULTS}/looks/{{look}}/interim.json",
    log:
        f"{RESULTS}/logs/interim/look{{look}}.log",
    priority: 50
    localrule: True
    conda:
        "../envs/ganbench.yaml"
    shell:
        "python -m ganbench.interim --summary {input.summary:q} --config {input.config:q}"
        " --look {wildcards.look} --out {output:q} > {log:q} 2>&1"


rule summary:
    """The study's runs at its last look: results/<study>/summary.csv."""
    input:
        lambda wildcards: f"{RESULTS}/looks/{final_look()}/summary.csv",
    output:
        f"{RESULTS}/summary.csv",
    log:
        f"{RESULTS}/logs/summary.log",
    localrule: True
    conda:
        "../envs/ganbench.yaml"
    shell:
        "cp {input:q} {output:q} && echo 'copied {input}' > {log:q}"


rule interim_report:
    """The report of a look before the last, marked as interim (verdicts so far, claims still open)."""
    input:
        summary=f"{RESULTS}/looks/{{look}}/summary.csv",
        config=f"{RESULTS}/config.json",
        interim=f"{RESULTS}/looks/{{look}}/interim.json",
    output:
        f"reports/{STUDY}/looks/{{look}}/index.html",
    log:
        f"{RESULTS}/logs/report/look{{look}}.log",
    priority: 50
    conda:
        "../envs/ganbench.yaml"
    shell:
        "python -m ganbench.report --summary {input.summary:q} --config {input.config:q}"
        " --interim {input.interim:q} --out {output:q} > {log:q} 2>&1"


rule report:
    """The HTML report: verdicts on the observations, per-condition tables, grids, curves, timing."""
    input:
        summary=f"{RESULTS}/summary.csv",
        config=f"{RESULTS}/config.json",
        speed=f"{RESULTS}/speed.csv",
        interim=lambda wildcards: f"{RESULTS}/looks/{final_look()}/interim.json",
    output:
        html=f"reports/{STUDY}/index.html",
        verdicts=report(
            f"reports/{STUDY}/observations.csv",
            caption="../report/verdicts.rst",
            category="ganbench",
            subcategory="verdicts",
        ),
        figures=[
            report(
                f"reports/{STUDY}/figures/{name}.png",
                caption=f"../report/{name}.rst",
                category="ganbench",
            )
            for name in (
                "observations",
                "fid_by_condition",
                "frameworks",
                "training_curves",
                "loss_curves",
                "timing",
            )
        ],
    log:
        f"{RESULTS}/logs/report.log",
    conda:
        "../envs/ganbench.yaml"
    shell:
        "python -m ganbench.report --summary {input.summary:q} --config {input.config:q}"
        " --speed {input.speed:q} --interim {input.interim:q} --out {output.html:q} > {log:q} 2>&1"
