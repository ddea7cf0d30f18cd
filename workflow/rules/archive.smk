# The publication bundle: what a paper cites, stamped with the commit that made it.


rule archive:
    input:
        summary=f"{OUT}/evaluation/summary.json",
        summary_csv=f"{OUT}/evaluation/summary.csv",
        tables=f"{OUT}/evaluation/tables.md",
        stats=f"{OUT}/stats/stats.md",
        figures=f"{OUT}/figures/training_curves.png",
        evaluations=all_evaluations,
        runs=all_run_files,
        thresholds=all_thresholds,
        splits=[f"{OUT}/splits/{source}.tsv" for source in SOURCES],
        models=archive_models,
        release=[f"{RES}/{name}" for name in RELEASE_FILES],
    output:
        f"{OUT}/abgd-{DATASET}-{GIT_SHA}.tar.gz",
    log:
        f"{OUT}/logs/archive/archive.log",
    localrule: True
    conda:
        ENV
    params:
        code=step_code("archive"),
        config=config_json,
        dataset=DATASET,
        commit=GIT_COMMIT,
        flags=section_flags("archive"),
    shell:
        "$ABGD_PYTHON -m abgd.archive --results $(dirname {output}) --dataset {params.dataset}"
        " --commit {params.commit} --config-json {params.config:q} --inputs {input.release}"
        " {params.flags} --out {output} > {log} 2>&1"
