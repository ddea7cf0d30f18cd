# Stage 1-2: the release's files (generated mirror for the demo), downloads, feature conversion,
# ground truth.


rule demo_mirror:
    output:
        files=[f"{MIRROR}/{name}" for name in RELEASE_FILES],
        md5sums=f"{MIRROR}/MD5SUMS",
    log:
        f"{OUT}/logs/demo_mirror/demo_mirror.log",
    benchmark:
        f"{OUT}/benchmarks/demo_mirror/demo_mirror.tsv"
    conda:
        ENV
    threads: config["demo"]["workers"]
    resources:
        mem_mb=2000,
    params:
        code=step_code("demo"),
        # generate is the workflow's switch; workers are the rule's threads
        flags=section_flags("demo", exclude=["generate", "workers"]),
    shell:
        "$ABGD_PYTHON -m abgd.demo --out $(dirname {output.md5sums}) {params.flags}"
        " --workers {threads} > {log} 2>&1"


rule download:
    input:
        download_inputs,
    output:
        f"{RES}/{{name}}",
    log:
        f"{OUT}/logs/download/{{name}}.log",
    localrule: True
    conda:
        ENV
    params:
        code=step_code("download"),
        url=file_url,
        md5=md5_args,
        flags=section_flags("download", include=["retries", "backoff"]),
    shell:
        "$ABGD_PYTHON -m abgd.download --url '{params.url}' --out {output} {params.md5}"
        " {params.flags} > {log} 2>&1"


rule convert:
    input:
        archive=archive_path,
    output:
        parquet=f"{OUT}/features/{{split}}/{{part}}.parquet",
        errors=f"{OUT}/features/{{split}}/{{part}}.errors.tsv",
    log:
        f"{OUT}/logs/convert/{{split}}/{{part}}.log",
    benchmark:
        f"{OUT}/benchmarks/convert/{{split}}/{{part}}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        code=step_code("convert"),
        flags=section_flags("features", include=["batch_size"]),
    shell:
        "$ABGD_PYTHON -m abgd.convert --archive {input.archive} --out {output.parquet}"
        " --errors {output.errors} {params.flags} --threads {threads} > {log} 2>&1"


rule features_manifest:
    input:
        parts=parts_of_split,
        errors=errors_of_split,
    output:
        f"{OUT}/features/{{split}}.manifest.json",
    log:
        f"{OUT}/logs/features_manifest/{{split}}.log",
    benchmark:
        f"{OUT}/benchmarks/features_manifest/{{split}}.tsv"
    conda:
        ENV
    params:
        code=step_code("manifest"),
    shell:
        "$ABGD_PYTHON -m abgd.manifest --parts {input.parts} --errors {input.errors}"
        " --out {output} > {log} 2>&1"


rule groundtruth:
    input:
        train=groundtruth_tsv("train"),
        validation=groundtruth_tsv("validation"),
        train_features=f"{OUT}/features/train.manifest.json",
        validation_features=f"{OUT}/features/validation.manifest.json",
    output:
        train=f"{OUT}/groundtruth/{{source}}-train.parquet",
        validation=f"{OUT}/groundtruth/{{source}}-validation.parquet",
        summary=f"{OUT}/groundtruth/{{source}}.json",
    log:
        f"{OUT}/logs/groundtruth/{{source}}.log",
    benchmark:
        f"{OUT}/benchmarks/groundtruth/{{source}}.tsv"
    conda:
        ENV
    params:
        code=step_code("groundtruth"),
    shell:
        "$ABGD_PYTHON -m abgd.groundtruth --source {wildcards.source} --train {input.train}"
        " --validation {input.validation} --train-features {input.train_features}"
        " --validation-features {input.validation_features} --out-train {output.train}"
        " --out-validation {output.validation} --summary {output.summary} > {log} 2>&1"
