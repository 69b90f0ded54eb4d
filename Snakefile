# learndyn: from generated data to the paper PDF in one DAG.
#   snakemake --cores all                               full study (config/config.yaml)
#   snakemake --cores all --configfile config/quick.yaml   smoke run
from snakemake.utils import min_version

min_version("9.0")


# The full study unless --configfile names another profile, which then replaces it
# entirely (Snakemake would otherwise deep-merge the two files).
if not config:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/paper.smk"


rule all:
    input:
        get_final_outputs(),
    default_target: True
