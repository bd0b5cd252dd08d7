from ganbench.jsonfile import write_json


def all_cores(wildcards):
    """Every core of the run (the benchmark runs alone); 1 where none is set (snakemake --report)."""
    try:
        return workflow.cores
    except WorkflowError:
        return 1
