# Snakemake glue shared by every stage: the config checked, names and paths of the jobs' files,
# input functions and resources. Plain logic (config coercion, name grammar, file names, flags)
# lives in tested library modules of src/abgd, imported from here.
import os
import re
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

if f"{workflow.basedir}/src" not in sys.path:
    sys.path.insert(0, f"{workflow.basedir}/src")

from abgd import configuration as _configuration  # noqa: E402  (stdlib at import)
from abgd import flags as _flags  # noqa: E402
from abgd import layout as _layout  # noqa: E402
from abgd import memory as _memory  # noqa: E402
from abgd import plugins as _plugins  # noqa: E402
from abgd import release as _release  # noqa: E402
from abgd import systems as _systems  # noqa: E402

SCHEMA = _configuration.load_schema(f"{workflow.basedir}/workflow/schemas/config.schema.yaml")
_problems = _configuration.problems(config, SCHEMA)
if _problems:
    raise WorkflowError("invalid configuration:\n" + "\n".join(_problems))
validate(config, "../schemas/config.schema.yaml")


def section_flags(section, include=None, exclude=()):
    """Config section `section` as the flags of its step (abgd.flags): one plain `params:` value,
    so a changed hyper-parameter reruns exactly the jobs that take it."""
    keys = _configuration.section_keys(SCHEMA, section)
    return _flags.section_flags(config[section], keys, include=include, exclude=exclude)


DATASET = config["dataset"]
RES = f"resources/{DATASET}"
OUT = f"results/{DATASET}"
MIRROR = f"resources/mirror/{DATASET}"
SOURCES = list(config["sources"])
SPLITS = ["train", "validation"]
# Fusion stacks the embeddings of every configured source, always in this order.
EMBEDDING_SOURCES = SOURCES
BASELINES = ["random", "popularity"]
EVAL_SPLIT = config["evaluation"]["split"]
DECODINGS = config["evaluation"]["decodings"]
ENV = "../../envs/abgd.yaml"
GPU = 1 if config["gpu"] else 0

try:
    ARCHIVES = _layout.archive_table(config["features"]["archives"])
except ValueError as _error:
    raise WorkflowError(str(_error)) from None
PARTS = {split: [key for key in ARCHIVES if key.startswith(f"{split}-")] for split in SPLITS}
groundtruth_name = _release.groundtruth_name

RELEASE_FILES = sorted(
    [groundtruth_name(source, split) for source in SOURCES for split in SPLITS]
    + list(ARCHIVES.values())
)
MD5SUMS = config["download"]["md5sums"]
DOWNLOADABLE = [*RELEASE_FILES, *([MD5SUMS] if MD5SUMS else [])]


# ---------------------------------------------------------------- download


def file_url(wildcards):
    urls = config["download"]["urls"]
    return urls.get(wildcards.name, config["download"]["url_template"].format(name=wildcards.name))


def md5_args(wildcards):
    """The checksum a download is verified against: explicit md5, else the published MD5SUMS."""
    known = config["download"]["md5"]
    if wildcards.name in known:
        return f"--md5 {known[wildcards.name]}"
    if MD5SUMS and wildcards.name != MD5SUMS:
        return f"--md5sums {RES}/{MD5SUMS}"
    return ""


def download_inputs(wildcards):
    inputs = []
    if config["demo"]["generate"]:
        # A generated mirror must exist before it can be fetched from; nothing else differs.
        inputs.append(f"{MIRROR}/MD5SUMS")
    if MD5SUMS and wildcards.name != MD5SUMS and wildcards.name not in config["download"]["md5"]:
        inputs.append(f"{RES}/{MD5SUMS}")
    return inputs


# ---------------------------------------------------------------- features


def archive_path(wildcards):
    return f"{RES}/{ARCHIVES[wildcards.part]}"


def feature_parts(split):
    return [f"{OUT}/features/{split}/{part}.parquet" for part in PARTS[split]]


def parts_of_split(wildcards):
    return feature_parts(wildcards.split)


def errors_of_split(wildcards):
    return [
        f"{OUT}/features/{wildcards.split}/{part}.errors.tsv" for part in PARTS[wildcards.split]
    ]


def groundtruth_tsv(split):
    def path(wildcards):
        return f"{RES}/{groundtruth_name(wildcards.source, split)}"

    return path


def feature_manifests(wildcards=None):
    return [f"{OUT}/features/{split}.manifest.json" for split in SPLITS]


# ---------------------------------------------------------------- systems and seeds
#
# The grammar of system names (<base>[-global][-consistent][-seed<N>]) lives in abgd.systems,
# shared with abgd.summarize. A trained run (models, embeddings, scores, thresholds) is named
# <base>[-seed<N>]; the first seed of `seeds:` keeps the plain name.

SEEDS = list(config["seeds"])
CUSTOM = {entry["name"]: entry for entry in config["custom_systems"]}
for _name in CUSTOM:
    try:
        _systems.check_plugin_name(_name)
    except ValueError as _error:
        raise WorkflowError(f"config custom_systems: {_error}") from None
if len(CUSTOM) != len(config["custom_systems"]):
    raise WorkflowError("config custom_systems: two entries share a name")
MULTITASK = ["multitask"] if config["multitask"]["enabled"] else []
TRAINED = ["single", "fusion", *config["lgbm"]["systems"], *MULTITASK, *CUSTOM]
HIERARCHIES = config["evaluation"]["hierarchy"]
ALL_BASES = [*TRAINED, *BASELINES]
CUSTOM_RUN = rf"({_systems.alternation(CUSTOM)})(-seed\d+)?"
TRAINED_RUN = rf"({_systems.alternation(TRAINED)})(-global)?(-consistent)?(-seed\d+)?"


def seed_suffix(seed):
    return _systems.seed_suffix(seed, SEEDS)


def parse_system(name):
    return _systems.parse_system(name, ALL_BASES, SEEDS)


def seed_of(run):
    return parse_system(run)["seed"]


def model_files(run, source):
    folder = f"{OUT}/models/{run}/{source}"
    return {
        "ckpt": f"{folder}/model.ckpt",
        "labels": f"{folder}/labels.json",
        "epochs": f"{folder}/epochs.csv",
        "metrics": f"{folder}/metrics.json",
    }


def embeddings_for_seed(seed):
    folder = f"{OUT}/embeddings" if int(seed) == SEEDS[0] else f"{OUT}/embeddings/seed{seed}"
    return [f"{folder}/{source}.parquet" for source in EMBEDDING_SOURCES]


def run_embeddings(wildcards):
    """The embeddings a fusion run of this seed stacks (made by single-source models of the seed)."""
    return embeddings_for_seed(seed_of(wildcards.run))


def single_model_for_embedding(wildcards):
    seed = int(getattr(wildcards, "seed", SEEDS[0]))
    return model_files(f"single{seed_suffix(seed)}", wildcards.model_source)["ckpt"]


def all_groundtruth(wildcards=None):
    return [f"{OUT}/groundtruth/{source}-{split}.parquet" for source in SOURCES for split in SPLITS]


def reported_systems():
    return _systems.reported_systems(TRAINED, SEEDS, DECODINGS, HIERARCHIES)


def run_file(system, source, split):
    return f"{OUT}/runs/{system}/{source}-{split}.tsv"


def evaluation_file(system, source, split):
    return f"{OUT}/evaluation/{system}/{source}-{split}.json"


def all_evaluations(wildcards=None):
    return [
        evaluation_file(system, source, EVAL_SPLIT)
        for system in reported_systems()
        for source in SOURCES
    ]


def all_run_files(wildcards=None):
    return [
        run_file(system, source, EVAL_SPLIT) for system in reported_systems() for source in SOURCES
    ]


def all_thresholds(wildcards=None):
    return [
        f"{OUT}/thresholds/{base}{seed_suffix(seed)}/{source}.json"
        for base in TRAINED
        for seed in SEEDS
        for source in SOURCES
    ]


# ---------------------------------------------------------------- step arguments


def predict_inputs(wildcards):
    if parse_system(wildcards.run)["base"] == "fusion":
        return run_embeddings(wildcards)
    return feature_manifests()


def predict_input_args(wildcards, input):
    flag = "--embeddings" if parse_system(wildcards.run)["base"] == "fusion" else "--features"
    return f"{flag} {input.inputs}"


def predict_kind(wildcards):
    """`--kind` and, for the multi-task network, the head (source) to score."""
    base = parse_system(wildcards.run)["base"]
    return f"multitask --head {wildcards.source}" if base == "multitask" else base


def predict_model(wildcards):
    """The checkpoint scoring this run's source (the multi-task model serves every source)."""
    folder = "union" if parse_system(wildcards.run)["base"] == "multitask" else wildcards.source
    return model_files(wildcards.run, folder)["ckpt"]


def predict_groundtruth(wildcards):
    split = "train" if wildcards.subset == "holdout" else wildcards.subset
    return f"{OUT}/groundtruth/{wildcards.source}-{split}.parquet"


def predict_part_args(wildcards, input):
    return f"--split {input.split} --part holdout" if wildcards.subset == "holdout" else ""


def run_seed(wildcards):
    return seed_of(wildcards.run)


def decode_scores(wildcards):
    trained = parse_system(wildcards.system)["trained"]
    return f"{OUT}/scores/{trained}/{wildcards.source}-{wildcards.split}.parquet"


def decode_thresholds(wildcards):
    return f"{OUT}/thresholds/{parse_system(wildcards.system)['trained']}/{wildcards.source}.json"


def decode_decoding(wildcards):
    return parse_system(wildcards.system)["decoding"]


def decode_hierarchy(wildcards):
    return parse_system(wildcards.system)["hierarchy"]


def baseline_kind(wildcards):
    return parse_system(wildcards.system)["base"]


def baseline_seed(wildcards):
    return parse_system(wildcards.system)["seed"]


def scores_for_evaluation(wildcards):
    system = parse_system(wildcards.system)
    if system["base"] in BASELINES:
        return []
    return [f"{OUT}/scores/{system['trained']}/{wildcards.source}-{wildcards.split}.parquet"]


def scores_arg(wildcards, input):
    return f"--scores {input.scores}" if input.scores else ""


def evaluation_args(wildcards):
    """The evaluation names the variant; with several seeds the summary averages over them."""
    system = parse_system(wildcards.system)
    args = f"--system {system['reported']} --hierarchy {system['hierarchy']}"
    if len(SEEDS) > 1 and system["base"] != "popularity":  # popularity runs once
        args += f" --seed {system['seed']}"
    bootstrap = config["evaluation"]["bootstrap"]
    if bootstrap and system["base"] not in BASELINES:
        args += f" --bootstrap {bootstrap} --bootstrap-seed {system['seed']}"
    return args


def lgbm_chunks_of_subset(wildcards):
    return [
        f"{OUT}/scores/{wildcards.run}/chunks/{wildcards.source}-{chunk}-{wildcards.subset}.parquet"
        for chunk in range(config["lgbm"]["chunks"])
    ]


def lgbm_inputs(wildcards):
    if parse_system(wildcards.run)["base"] == "lgbm_single":
        return feature_manifests()
    return run_embeddings(wildcards)


def lgbm_input_args(wildcards, input):
    base = parse_system(wildcards.run)["base"]
    flag = "--features" if base == "lgbm_single" else "--embeddings"
    return f"--kind {base.removeprefix('lgbm_')} {flag} {input.inputs}"


# ---------------------------------------------------------------- multitask and plug-ins


def multitask_inputs(wildcards=None):
    return {
        "features": f"{OUT}/features/train.manifest.json",
        "groundtruth": [f"{OUT}/groundtruth/{source}-train.parquet" for source in SOURCES],
        "split": [f"{OUT}/splits/{source}.tsv" for source in SOURCES],
        "split_summary": [f"{OUT}/splits/{source}.json" for source in SOURCES],
    }


def custom_entry(wildcards):
    return CUSTOM[parse_system(wildcards.run)["base"]]


def custom_module(wildcards):
    """The plug-in's module: an import path, or a file looked up in the working directory, then
    in the workflow's directory (so `examples/...` works from any --directory)."""
    return _plugins.resolve(custom_entry(wildcards)["module"], [workflow.basedir])


def custom_source_hash(wildcards):
    """Changes when the plug-in's source file does: params tracking then reruns its jobs only."""
    return _plugins.source_hash(custom_module(wildcards))


def custom_params_json(wildcards):
    import json

    return json.dumps(custom_entry(wildcards).get("params", {}), sort_keys=True)


def custom_inputs(wildcards):
    kind = custom_entry(wildcards).get("inputs", "features")
    inputs = []
    if kind in ("features", "both"):
        inputs += feature_manifests()
    if kind in ("embeddings", "both"):
        inputs += run_embeddings(wildcards)
    return inputs


def custom_input_args(wildcards, input):
    kind = custom_entry(wildcards).get("inputs", "features")
    files = list(input.inputs)
    args = []
    if kind in ("features", "both"):
        args.append("--features " + " ".join(files[: len(SPLITS)]))
        files = files[len(SPLITS) :]
    if files:
        args.append("--embeddings " + " ".join(files))
    return " ".join(args)


# ---------------------------------------------------------------- resources


def mem_mb_from_input(factor, floor_mb):
    """Memory that grows with the job's inputs: the demo asks for little, the release for enough."""

    def mem_mb(wildcards, input, attempt):
        return _memory.scaled_mb(input.size_mb, factor, floor_mb, attempt)

    return mem_mb


def mem_mb_from_manifest(factor, floor_mb, libraries_mb=1500):
    """Memory of a job holding the rows of `input.features` (a manifest) as one float32 matrix:
    `factor` × rows × 2669 × 4 bytes plus its libraries. The manifest is a few kB however
    large its Parquet parts are, so `input.size_mb` cannot say this; a manifest not written yet
    (dry run) leaves the value to be computed when the job is scheduled."""

    def mem_mb(wildcards, input, attempt):
        import json

        with open(input.features) as handle:
            rows = json.load(handle)["unique_rows"]
        return _memory.feature_matrix_mb(rows, factor, floor_mb, libraries_mb, attempt)

    return mem_mb


# ---------------------------------------------------------------- tag

TAG_SYSTEMS = ["single", "fusion"]
DEMO_DUMP = f"{RES}/acousticbrainz-lowlevel-json-demo.tar.zst"
try:
    TAG_INPUTS = _layout.tag_input_table(config["tag"]["inputs"])
except ValueError as _error:
    raise WorkflowError(str(_error)) from None


def tag_input(wildcards):
    return TAG_INPUTS[wildcards.tag_input]


def tag_outputs(name):
    folder = f"{OUT}/tag/{name}"
    return {
        "scores": [f"{folder}/scores/{s}/{src}.parquet" for s in TAG_SYSTEMS for src in SOURCES],
        "runs": [f"{folder}/runs/{s}/{src}.tsv" for s in TAG_SYSTEMS for src in SOURCES],
        "errors": f"{folder}/errors.tsv",
        "summary": f"{folder}/summary.json",
    }


def tag_study_files(wildcards=None):
    files = []
    for system in TAG_SYSTEMS:
        for source in SOURCES:
            files += [
                model_files(system, source)["metrics"],
                f"{OUT}/thresholds/{system}/{source}.json",
            ]
    return files


def tag_study_dir(wildcards, input):
    """results/<dataset>, from the first model file (models/<system>/<source>/metrics.json)."""
    return _layout.study_dir(input.study[0])


def all_tag_outputs(wildcards=None):
    return [tag_outputs(name)["summary"] for name in TAG_INPUTS]


# ---------------------------------------------------------------- targets


def study_targets():
    return [
        f"{OUT}/stats/stats.md",
        f"{OUT}/evaluation/summary.json",
        f"{OUT}/evaluation/summary.csv",
        f"{OUT}/evaluation/tables.md",
        f"{OUT}/figures/training_curves.png",
        f"{OUT}/abgd-{DATASET}-{GIT_SHA}.tar.gz",
        *all_tag_outputs(),
    ]


def archive_models(wildcards=None):
    """Checkpoints of every trained network, when `archive.models` bundles them."""
    if not config["archive"]["models"]:
        return []
    return [
        model_files(f"{base}{seed_suffix(seed)}", source)["ckpt"]
        for base in ("single", "fusion")
        for seed in SEEDS
        for source in SOURCES
    ]


def split_from_file(wildcards):
    """With `split.source: file`, the authors' published MBID lists replace the random split."""
    if config["split"]["source"] != "file":
        return ""
    files = config["split"]["files"][wildcards.source]
    return f"--from-file {files['fit']} {files['holdout']}"


def split_assignment(wildcards=None):
    """With `split.scope: global` (and a random split), the one release-group table of all sources."""
    if config["split"]["source"] == "file" or config["split"]["scope"] != "global":
        return []
    return f"{OUT}/splits/release_groups.tsv"


def split_assignment_arg(wildcards, input):
    return f"--assignment {input.assignment}" if input.assignment else ""


def _git(*args):
    import subprocess

    try:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, cwd=workflow.basedir
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "nogit"


GIT_COMMIT = _git("rev-parse", "HEAD")
GIT_SHA = _git("rev-parse", "--short", "HEAD")


def config_json(wildcards=None):
    """The resolved configuration as canonical JSON: a plain string, so params tracking sees it."""
    import json

    return json.dumps(config, sort_keys=True)


# ---------------------------------------------------------------- the interpreter and the code
#
# Each step runs as `$ABGD_PYTHON -m abgd.<step>` (docs/environments.md says why this way):
# - the checkout's own code: src/ goes first on PYTHONPATH, so no environment needs the package
#   installed or the repository's path (the conda env of `--sdm conda` holds dependencies only);
# - the interpreter of the environment the job runs in: with `--sdm conda` the job's env is
#   activated and its `python` is the right one; otherwise the Python that runs this Snakemake
#   (sys.executable), whatever PATH says. Jobs inherit both variables from this process; on a
#   cluster every job's own Snakemake (started with the same interpreter) sets them again.
SRC = f"{workflow.basedir}/src"
from abgd.codehash import code_hash  # noqa: E402  (stdlib only; src/ is on sys.path, above)


def _interpreter():
    from snakemake.settings.types import DeploymentMethod

    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        return "python"
    return sys.executable  # expanded unquoted in the shell: a path without spaces


# Set here for the jobs, never required from the user (hence no `envvars:`).
os.environ.update(
    ABGD_PYTHON=_interpreter(),
    PYTHONPATH=os.pathsep.join(
        dict.fromkeys([SRC, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])
    ),
)


def step_code(step):
    """The `code` param of a rule: changes when abgd.<step> or an abgd module it uses changes."""
    return code_hash(SRC, f"abgd.{step}")
