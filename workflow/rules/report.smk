rule aggregate:
    """One row per run: factors, status, metrics, training statistics, timing."""
    input:
        config=f"{RESULTS}/config.json",
        metrics=expand(f"{RUN_DIR}/metrics.json", run_id=RUN_IDS),
        status=expand(f"{RUN_DIR}/status.json", run_id=RUN_IDS),
    output:
        f"{RESULTS}/summary.csv",
    log:
        f"{RESULTS}/logs/aggregate.log",
    conda:
        "../envs/ganbench.yaml"
    params:
        runs_dir=lambda wildcards, input: os.path.join(
            os.path.dirname(input.config), "runs"
        ),
    shell:
        "python -m ganbench.aggregate --config {input.config:q} --runs-dir {params.runs_dir:q}"
        " --out {output:q} > {log:q} 2>&1"


rule report:
    """The HTML report: verdicts on the observations, per-condition tables, grids, curves, timing."""
    input:
        summary=f"{RESULTS}/summary.csv",
        config=f"{RESULTS}/config.json",
        speed=f"{RESULTS}/speed.csv",
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
        " --speed {input.speed:q} --out {output.html:q} > {log:q} 2>&1"
