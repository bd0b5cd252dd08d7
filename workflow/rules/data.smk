from ganbench.data import rule_args as dataset_rule_args


rule dataset:
    """Build the configured dataset, uint8 NHWC arrays in results/data/<dataset>.npz: mnist /
    fashion_mnist decoded from their source and checked against their checksums; celeba from the
    user's folder (data.celeba_dir: centre crop 108, PIL bilinear to 64x64 RGB), its record (sha256
    of each array, counts, source) written beside it by the builder (results/data/celeba.json).
    """
    output:
        DATA,
    log:
        f"results/logs/dataset_{config['dataset']}.log",
    conda:
        "../envs/ganbench.yaml"
    params:
        dataset=config["dataset"],
        # The builder's source options: --idx-dir DIR, or --celeba-dir DIR [--max-images N] (already
        # shell-quoted). Snakemake reruns a rule whose command text changes (rerun trigger "code"); the
        # dataset is an ancient() input of train, evaluate and benchmark, so a rebuilt file (identical:
        # checksummed) reruns nothing downstream.
        source_args=dataset_rule_args(config),
    shell:
        # On failure the builder's one-line error (e.g. "apt-get install dataset-fashion-mnist")
        # is shown in snakemake's own output, not only in the log.
        "python -m ganbench.data --dataset {params.dataset:q} {params.source_args} --out {output:q} > {log:q} 2>&1"
        " || {{ cat {log:q} >&2; exit 1; }}"


rule resolved_config:
    """The validated config with every default filled in; the aggregate and report read it."""
    output:
        f"{RESULTS}/config.json",
    log:
        f"{RESULTS}/logs/resolved_config.log",
    localrule: True
    conda:
        "../envs/ganbench.yaml"
    params:
        # every key but seed_groups / seed_group_size: they say how runs are scheduled, not what
        # any run is (ganbench/seed_groups.py), so switching them re-aggregates nothing
        config={k: v for k, v in config.items() if k not in SEED_GROUP_KEYS},
    run:
        write_json(output[0], params.config, log[0])
