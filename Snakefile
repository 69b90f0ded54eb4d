# learndyn: from generated data to the paper PDF in one DAG.
#   snakemake --cores all                               full study (config/config.yaml)
#   snakemake --cores all --configfile config/quick.yaml   smoke run
import os

from snakemake.utils import min_version

min_version("9.0")


# The full study unless --configfile names another profile, which then replaces it
# entirely (Snakemake would otherwise deep-merge the two files). Found beside this file, so that
# a run from another directory gets the one line saying where to run (common.smk).
if not config:

    configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/bridge.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/paper.smk"


# After every stage has listed its files: refuse a corrupt result, or a report for another config;
# say (one line each) that another config built results/, or that a lock is left.
check_existing_results()
check_report_config()
check_run_config()
check_stale_lock()


onsuccess:
    record_run_config()


rule all:
    default_target: True
    input:
        get_final_outputs(),
