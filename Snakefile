# abgd: the AcousticBrainz Genre Dataset study (Bogdanov et al., ISMIR 2019) as one DAG.
# Entry point: configuration, validation, rule files, and the targets of a whole study.
from snakemake.utils import min_version

min_version("9.0")


configfile: f"{workflow.basedir}/config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    source="|".join(SOURCES),
    model_source="|".join(SOURCES),
    split="train|validation",
    part="|".join(re.escape(key) for key in ARCHIVES),
    name="|".join(re.escape(name) for name in DOWNLOADABLE),
    subset="holdout|validation",
    seed=r"\d+",
    chunk=r"\d+",
    tag_input="|".join(re.escape(name) for name in TAG_INPUTS) or "(?!)",


include: "workflow/rules/data.smk"
include: "workflow/rules/splits.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/lgbm.smk"
include: "workflow/rules/custom.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/archive.smk"
include: "workflow/rules/tag.smk"


rule all:
    default_target: True
    input:
        study_targets(),
