# Beyond the study: genre labels for new AcousticBrainz documents (config `tag.inputs`), one job
# per input so that a cluster tags the parts of a whole data dump in parallel.


rule demo_dump:
    input:
        archives=[f"{MIRROR}/{ARCHIVES[part]}" for part in PARTS["validation"]],
    output:
        DEMO_DUMP,
    log:
        f"{OUT}/logs/demo_dump/demo_dump.log",
    conda:
        ENV
    threads: 1
    params:
        code=step_code("demo"),
        flags=section_flags("demo", include=["seed"]),
    shell:
        "$ABGD_PYTHON -m abgd.demo --out {output} --dump-from {input.archives}"
        " {params.flags} --workers {threads} > {log} 2>&1"


rule tag:
    input:
        data=tag_input,
        study=tag_study_files(),
    output:
        **tag_outputs("{tag_input}"),
    log:
        f"{OUT}/logs/tag/{{tag_input}}.log",
    benchmark:
        f"{OUT}/benchmarks/tag/{{tag_input}}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=240,
    params:
        code=step_code("tag"),
        study=tag_study_dir,
        flags=section_flags("tag", exclude=["inputs"]),
    shell:
        "$ABGD_PYTHON -m abgd.tag {input.data} --study {params.study} --out $(dirname {output.summary})"
        " {params.flags} --threads {threads} > {log} 2>&1"
