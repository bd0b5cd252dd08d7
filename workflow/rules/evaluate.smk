import shlex


# Evaluation claims a GPU only with Inception weights (INCEPTION_WEIGHTS, eval_gpus: common.smk).
rule evaluate:
    """Score a run's samples and learning-curve samples with the shared evaluator (ganbench.metrics); a diverged run gets no quality score."""
    input:
        samples=f"{RUN_DIR}/samples.npz",
        spec=f"{RUN_DIR}/spec.json",
        status=f"{RUN_DIR}/status.json",
        data=ancient(DATA),  # a rebuilt identical dataset rescores nothing; its test split is checked first
    output:
        f"{RUN_DIR}/metrics.json",
    log:
        f"{RESULTS}/logs/evaluate/{{run_id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{run_id}}.tsv"
    conda:
        "../envs/ganbench.yaml"
    threads: 1
    resources:
        gpu=lambda wildcards: min(eval_gpus(), 1),
    params:
        run_dir=lambda wildcards, input: os.path.dirname(input.samples),
        gpus=eval_gpus,
        inception=(
            f"--inception-weights {shlex.quote(str(INCEPTION_WEIGHTS))}"
            if INCEPTION_WEIGHTS
            else ""
        ),
        dataset=config["dataset"],
    shell:
        "{{ python -m ganbench.data --dataset {params.dataset:q} --out {input.data:q} --verify test_images"
        " && OMP_NUM_THREADS={threads} python -m ganbench.metrics.evaluate --run-dir {params.run_dir:q} --gpus {params.gpus}"
        " {params.inception} --data {input.data:q} --cache-dir results/cache --out {output:q}; }} > {log:q} 2>&1"
