rule benchmark:
    """Step time of every impl on one recipe's model, alone on the machine (all cores, all GPUs)."""
    input:
        config=f"{RESULTS}/config.json",
        data=ancient(DATA),
    output:
        f"{RESULTS}/benchmark/{{shape}}.json",
    log:
        f"{RESULTS}/logs/benchmark/{{shape}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/benchmark/{{shape}}.tsv"
    conda:
        "../envs/ganbench.yaml"
    threads: all_cores
    resources:
        gpu=study_gpus,
    params:
        gpus=study_gpus,
    shell:
        "python -m ganbench.benchmark --config {input.config:q} --shape {wildcards.shape:q} --data {input.data:q}"
        " --gpus {params.gpus} --out {output:q} > {log:q} 2>&1"


rule speed:
    """One table of the benchmark records: results/<study>/speed.csv."""
    input:
        expand(f"{RESULTS}/benchmark/{{shape}}.json", shape=SHAPES),
    output:
        f"{RESULTS}/speed.csv",
    log:
        f"{RESULTS}/logs/speed.log",
    conda:
        "../envs/ganbench.yaml"
    shell:
        "python -m ganbench.speed --out {output:q} {input:q} > {log:q} 2>&1"
