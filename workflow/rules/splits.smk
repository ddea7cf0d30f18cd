# Stage 3: the 80/20 release-group split of each training set, and the dataset statistics.


rule split_groups:
    input:
        groundtruth=expand(f"{OUT}/groundtruth/{{source}}-train.parquet", source=SOURCES),
    output:
        assignment=f"{OUT}/splits/release_groups.tsv",
        summary=f"{OUT}/splits/release_groups.json",
    log:
        f"{OUT}/logs/split_groups/split_groups.log",
    benchmark:
        f"{OUT}/benchmarks/split_groups/split_groups.tsv"
    conda:
        ENV
    params:
        code=step_code("split_groups"),
        flags=section_flags("split", include=["seed", "holdout_fraction"]),
    shell:
        "$ABGD_PYTHON -m abgd.split_groups --groundtruth {input.groundtruth} --out {output.assignment}"
        " --summary {output.summary} {params.flags} > {log} 2>&1"


rule split:
    input:
        groundtruth=f"{OUT}/groundtruth/{{source}}-train.parquet",
        assignment=split_assignment,
    output:
        split=f"{OUT}/splits/{{source}}.tsv",
        summary=f"{OUT}/splits/{{source}}.json",
    log:
        f"{OUT}/logs/split/{{source}}.log",
    benchmark:
        f"{OUT}/benchmarks/split/{{source}}.tsv"
    conda:
        ENV
    params:
        code=step_code("split"),
        # source, scope and files choose the inputs (from_file, assignment), not flags
        flags=section_flags("split", exclude=["source", "scope", "files"]),
        from_file=split_from_file,
        scope=config["split"]["scope"],
        assignment=split_assignment_arg,
    shell:
        "$ABGD_PYTHON -m abgd.split --groundtruth {input.groundtruth} --out {output.split}"
        " --summary {output.summary} {params.flags}"
        " {params.from_file} {params.assignment} > {log} 2>&1"


rule stats:
    input:
        all_groundtruth,
    output:
        markdown=report(
            f"{OUT}/stats/stats.md",
            caption="../report/stats.rst",
            category="1. Dataset",
            labels={"table": "Tables 2-3"},
        ),
        figure1=report(
            f"{OUT}/stats/figure1_genre_distribution.png",
            caption="../report/figure1.rst",
            category="1. Dataset",
            labels={"figure": "Figure 1"},
        ),
        figure2=report(
            f"{OUT}/stats/figure2_labels_per_recording.png",
            caption="../report/figure2.rst",
            category="1. Dataset",
            labels={"figure": "Figure 2"},
        ),
    log:
        f"{OUT}/logs/stats/stats.log",
    localrule: True
    conda:
        ENV
    params:
        code=step_code("stats"),
        sources=SOURCES,
        groundtruth_dir=f"{OUT}/groundtruth",
    shell:
        "$ABGD_PYTHON -m abgd.stats --groundtruth-dir {params.groundtruth_dir} --sources {params.sources}"
        " --out-dir $(dirname {output.markdown}) > {log} 2>&1"
